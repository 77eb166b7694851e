"""The project's Python, one package, for the tests and the scripts alike.

    envoy, servers      a real Envoy on 127.0.0.1 with the filter; the provider and upstream doubles
    registry            a real OCI registry on 127.0.0.1
    manifests, schemas  configmap/ rendered by kustomize; its objects against their schemas
                        (istio_schemas.mjs for Istio's kinds)
    commands            running the scripts and tools from the tests
    run_local           scripts/run-local.sh
    bench, soak, startup  scripts/bench.sh, soak.sh, startup.sh
    rename_exports      the build's wasm export reader and renamer (scripts/build.sh)
    oci_layout          the OCI image layout (scripts/oci.sh)
    configmap_limits    the ConfigMap's size limits (scripts/configmap.sh)

It is found with the repository's root on the module path: pytest puts it
there (pytest.ini, `pythonpath`), and scripts/lib/tools.sh puts it on
PYTHONPATH for the scripts, which run a module as `python3 -m harness.NAME`.
"""
