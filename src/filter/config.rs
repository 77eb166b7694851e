//! The plugin configuration: the fields, their defaults, and the checks that
//! turn a bad configuration into one sentence naming the field and the problem.
//!
//! Unknown fields are errors, so a typo never falls back to a default silently.

use std::borrow::Cow;

use super::destination::{self, Destinations};
use super::duration;
use super::environ;
use super::form;
use super::headers::{self, HeaderSet, Refusal};
use super::json::{self, Kind, Scanner};
use super::policy::{OnMissing, Target};
use super::schedule::Timing;
use super::text::{line, push_duration, push_quoted, push_u64};

/// Where the provider is, as Envoy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// An Envoy cluster name, e.g. `outbound|8080||tokens.idp.svc.cluster.local`.
    pub cluster: String,
    /// The `:authority` (Host) of the provider call.
    pub authority: String,
    /// The path of the provider call, starting with `/`.
    pub path: String,
}

impl Provider {
    /// The proxy-wasm shared-data key under which the headers fetched from this
    /// provider, known by `who` (its name, and for a grant what else tells
    /// it apart), by the plugin named `plugin` are published. Two plugins or
    /// providers in one VM never collide, and a plugin reconfigured to
    /// another provider never serves the old provider's headers.
    pub fn shared_data_key(&self, plugin: &str, who: &[&str]) -> String {
        // FNV-1a over the parts, separated so ("ab","c") != ("a","bc").
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let place = [self.cluster.as_str(), &self.authority, &self.path];
        for part in place.iter().chain(who) {
            for &b in part.as_bytes().iter().chain(b"\n") {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        let mut key = line(&["header_augmenter/", super::store::FORMAT, "/", plugin, "/"]);
        for shift in (0..16).rev() {
            let nibble = (hash >> (shift * 4)) & 0xf;
            key.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
        }
        key
    }
}

/// One provider: where its headers come from, how they are refreshed, what
/// a request gets while there are none, and which destinations get them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `name` in `providers`; empty for the provider given at the top level
    /// (called `default` where a name is shown).
    pub name: String,
    pub provider: Provider,
    /// `header_cache_expiry`: how often the headers are refreshed.
    pub refresh_ms: u64,
    /// `header_providing_service_timeout`: the limit on one provider call.
    pub timeout_ms: u64,
    /// Replace a header the request already has (true) or keep the request's own (false).
    pub overwrite: bool,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// How long past expiry the last good headers may be served; `None`: no bound.
    pub max_stale_ms: Option<u64>,
    pub on_missing: OnMissing,
    pub deny_status: u32,
    pub wait_timeout_ms: u64,
    /// Added to every request; the provider's value wins a name clash.
    pub static_headers: HeaderSet,
    /// `None`: every destination.
    pub destinations: Option<Destinations>,
    /// `oauth2`: the provider is an OAuth2 token endpoint.
    pub oauth2: Option<OAuth2>,
    /// Whether it has a secret from the environment or an OAuth2 token:
    /// `oauth2` or `static_headers_env` (whose values are in `static_headers`).
    pub secret: bool,
}

/// `oauth2`: a client-credentials grant (RFC 6749 §4.4) at the provider's
/// cluster, authority and path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuth2 {
    pub client_id: String,
    /// The environment variable that holds the client secret.
    pub client_secret_env: String,
    /// `client_auth: basic` (the default): HTTP Basic; else in the body.
    pub basic_auth: bool,
    /// The header the token goes in, lower-cased.
    pub header: String,
    /// Put before the token; `None`: from the answer's `token_type`.
    pub prefix: Option<String>,
    /// The token request's form body without the client's credentials, in
    /// the configuration's order: `grant_type`, and `scope`, `audience`,
    /// `resource` and `params` as given. It tells two grants apart in the
    /// shared-data key.
    pub grant: String,
    /// Built from the secret once `oauth2` is read: never logged. The whole form body,
    /// and `Basic ...` for `client_auth: basic`.
    pub body: String,
    pub basic: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: String::new(),
            provider: Provider {
                cluster: "sidecar".into(),
                authority: "sidecar".into(),
                path: "/headers".into(),
            },
            refresh_ms: 360_000,
            timeout_ms: 5_000,
            overwrite: true,
            retry_initial_ms: 1_000,
            retry_max_ms: 60_000,
            max_stale_ms: None,
            on_missing: OnMissing::Continue,
            deny_status: 503,
            wait_timeout_ms: 2_000,
            static_headers: HeaderSet::default(),
            destinations: None,
            oauth2: None,
            secret: false,
        }
    }
}

impl Config {
    pub fn timing(&self) -> Timing {
        Timing {
            refresh_ms: self.refresh_ms,
            retry_initial_ms: self.retry_initial_ms,
            retry_max_ms: self.retry_max_ms,
        }
    }
}

/// The whole plugin configuration: its providers, in order (an earlier one
/// wins a header both give), and where the headers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub providers: Vec<Config>,
    pub target: Target,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            providers: vec![Config::default()],
            target: Target::Request,
        }
    }
}

/// A configuration problem: the field it is about (empty for the document as a
/// whole) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<(&'static str, String)>);

impl Error {
    /// Boxed, so that a `Result` passes one pointer up through every `?`.
    fn of(field: &'static str, problem: String) -> Self {
        Error(Box::new((field, problem)))
    }

    fn new(field: &'static str, problem: &str) -> Self {
        Error::of(field, problem.into())
    }

    /// This error, as one of the provider at `index` of `providers`:
    /// `providers[1].header_cache_expiry: ...`.
    #[inline(never)]
    fn within(self, index: usize) -> Error {
        let mut problem = String::from("providers[");
        push_u64(&mut problem, index as u64);
        problem.push(']');
        let (field, text) = &*self.0;
        if !field.is_empty() {
            problem.push('.');
            problem.push_str(field);
        }
        problem.push_str(": ");
        problem.push_str(text);
        Error::of("", problem)
    }

    /// The sentence for Envoy's log: `header_cache_expiry: "5x" has an unknown unit ...`.
    pub fn message(&self) -> String {
        let (field, problem) = &*self.0;
        let mut out = String::from(*field);
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(problem);
        out
    }
}

const CLUSTER: &str = "header_providing_service_cluster";
const AUTHORITY: &str = "header_providing_service_authority";
const PATH: &str = "header_providing_service_path";
const EXPIRY: &str = "header_cache_expiry";
const TIMEOUT: &str = "header_providing_service_timeout";
const OVERWRITE: &str = "overwrite";
const RETRY_INITIAL: &str = "retry_initial";
const RETRY_MAX: &str = "retry_max";
const MAX_STALE: &str = "max_stale";
const ON_MISSING: &str = "on_missing";
const DENY_STATUS: &str = "deny_status";
const WAIT_TIMEOUT: &str = "wait_timeout";
const STATIC_HEADERS: &str = "static_headers";
const TARGET: &str = "target";
const OAUTH2: &str = "oauth2";
const STATIC_HEADERS_ENV: &str = "static_headers_env";
const NAME: &str = "name";
const DESTINATIONS: &str = "destinations";
const PROVIDERS: &str = "providers";

/// Which field a key names; `read_field` matches on this rather than the name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Cluster,
    Authority,
    Path,
    Expiry,
    Timeout,
    Overwrite,
    RetryInitial,
    RetryMax,
    MaxStale,
    OnMissing,
    DenyStatus,
    WaitTimeout,
    StaticHeaders,
    StaticHeadersEnv,
    OAuth2,
    Destinations,
    // Only in a provider of `providers`:
    Name,
    // Only at the top level:
    Target,
    Providers,
    // Only in `oauth2` (from here on: `allowed` counts on it):
    ClientId,
    ClientSecretEnv,
    ClientAuth,
    Scopes,
    Audience,
    Resource,
    Params,
    Header,
    Prefix,
}

/// Every field the configuration may have, in `Field`'s order, by the
/// name its errors give: a member of `oauth2` as `oauth2.<member>`.
const NAMES: [&str; 28] = [
    CLUSTER,
    AUTHORITY,
    PATH,
    EXPIRY,
    TIMEOUT,
    OVERWRITE,
    RETRY_INITIAL,
    RETRY_MAX,
    MAX_STALE,
    ON_MISSING,
    DENY_STATUS,
    WAIT_TIMEOUT,
    STATIC_HEADERS,
    STATIC_HEADERS_ENV,
    OAUTH2,
    DESTINATIONS,
    NAME,
    TARGET,
    PROVIDERS,
    "oauth2.client_id",
    CLIENT_SECRET_ENV,
    "oauth2.client_auth",
    "oauth2.scopes",
    "oauth2.audience",
    "oauth2.resource",
    "oauth2.params",
    "oauth2.header",
    "oauth2.prefix",
];
/// Which field each of `NAMES` is (two lists, not one of pairs: 84 bytes
/// less; a test checks they agree).
const FIELDS: [Field; 28] = [
    Field::Cluster,
    Field::Authority,
    Field::Path,
    Field::Expiry,
    Field::Timeout,
    Field::Overwrite,
    Field::RetryInitial,
    Field::RetryMax,
    Field::MaxStale,
    Field::OnMissing,
    Field::DenyStatus,
    Field::WaitTimeout,
    Field::StaticHeaders,
    Field::StaticHeadersEnv,
    Field::OAuth2,
    Field::Destinations,
    Field::Name,
    Field::Target,
    Field::Providers,
    Field::ClientId,
    Field::ClientSecretEnv,
    Field::ClientAuth,
    Field::Scopes,
    Field::Audience,
    Field::Resource,
    Field::Params,
    Field::Header,
    Field::Prefix,
];
const CLIENT_SECRET_ENV: &str = "oauth2.client_secret_env";

/// The objects that hold fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The configuration itself.
    Top,
    /// A provider of `providers`.
    Listed,
    OAuth2,
}

/// Whether `field` may be given in an object at `place`.
fn allowed(field: Field, place: Place) -> bool {
    let only = match field {
        Field::Name => Place::Listed,
        Field::Target | Field::Providers => Place::Top,
        f if f as u8 >= Field::ClientId as u8 => Place::OAuth2,
        _ => return place != Place::OAuth2,
    };
    place == only
}

/// A field's name as its object has it: `oauth2.client_id` is `client_id`.
fn short(name: &'static str) -> &'static str {
    name.strip_prefix("oauth2.").unwrap_or(name)
}

/// Most providers in one plugin: each defines its metrics and polls.
pub const MAX_PROVIDERS: usize = 16;
/// The error for more, naming `MAX_PROVIDERS` (a test checks they agree).
const TOO_MANY: &str = "has more than 16 providers";

/// Longest `wait_timeout`: a held request keeps its client, a stream in
/// Envoy and an entry in the VM's queue that long.
pub const MAX_WAIT_MS: u64 = 300_000;

/// Largest configuration read: room for 32 KiB of static headers and the rest.
pub const MAX_CONFIG_BYTES: usize = 65536;
/// Longest cluster name, authority or path.
pub const MAX_NAME_BYTES: usize = 1024;

/// Parses the plugin configuration, in an empty environment (tests).
#[cfg(any(test, feature = "fuzzing"))]
pub fn parse(input: &[u8]) -> Result<Settings, Error> {
    load(input, b"")
}

/// The whole of configuring: reads the plugin configuration (JSON text, or
/// the protobuf encoding of a `google.protobuf.Struct`; empty or blank input
/// means all defaults) and the values it takes from the VM's environment
/// (`environ`, as WASI hands it over).
pub fn load(input: &[u8], environ: &[u8]) -> Result<Settings, Error> {
    if input.len() > MAX_CONFIG_BYTES {
        let mut problem = String::from("the configuration is ");
        super::text::push_u64(&mut problem, input.len() as u64);
        problem.push_str(" bytes, over the ");
        push_u64(&mut problem, MAX_CONFIG_BYTES as u64);
        problem.push_str("-byte limit");
        return Err(Error::of("", problem));
    }
    let converted = super::structpb::to_json(input);
    let input = converted.as_deref().map_or(input, str::as_bytes);
    let mut r = Reading {
        s: Scanner::new(input).map_err(not_json)?,
        environ,
        target: Target::Request,
        listed: Vec::new(),
    };
    let mut top = Config::default();
    if !r.s.is_blank() {
        let given = read_object(&mut r, Place::Top, &mut top)?;
        r.s.end().map_err(not_json)?;
        if let (false, Some(field)) = (r.listed.is_empty(), given) {
            let mut problem = String::from("cannot be given with top-level provider fields, as ");
            problem.push_str(field);
            return Err(Error::of(PROVIDERS, problem));
        }
    }
    if r.listed.is_empty() {
        r.listed.push(top);
    }
    // A token or an environment secret must never go back to clients.
    if r.target.response() && r.listed.iter().any(|c| c.secret) {
        let problem = "responses cannot get oauth2 tokens or static_headers_env values: they would go to clients";
        return Err(Error::new(TARGET, problem));
    }
    Ok(Settings {
        providers: r.listed,
        target: r.target,
    })
}

/// A configuration being read.
struct Reading<'a> {
    s: Scanner<'a>,
    environ: &'a [u8],
    target: Target,
    /// The providers of `providers`.
    listed: Vec<Config>,
}

/// What `static_headers` and `static_headers_env` must be.
const HEADER_MAP: &str = "must be an object of header names to string values";

/// One member of an object of strings, as given.
type Entry<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Reads one object of fields at `place` into `config`: the configuration,
/// a provider of `providers`, or `oauth2`. Returns the first provider field
/// given.
fn read_object<'a>(
    r: &mut Reading<'a>,
    place: Place,
    config: &mut Config,
) -> Result<Option<&'static str>, Error> {
    // `static_headers`, then the values of `static_headers_env`: checked
    // together at the end, and dropped in one place whatever the outcome.
    let mut headers: Vec<Entry<'a>> = Vec::new();
    let mut from_env: Vec<Entry<'a>> = Vec::new();
    let (given, seen) = read_members(r, place, config, &mut headers, &mut from_env)?;
    match place {
        Place::OAuth2 => finish_oauth2(config)?,
        // `load` refuses provider fields beside `providers`.
        Place::Top if !r.listed.is_empty() => {}
        _ => finish_provider(r.environ, place, seen, headers, from_env, config)?,
    }
    Ok(given)
}

/// The object at `place`, its members read into `config` (and the static
/// headers' entries into `headers` and `from_env`): the first provider field
/// given, and which of `NAMES` were (bit i for `NAMES[i]`).
fn read_members<'a>(
    r: &mut Reading<'a>,
    place: Place,
    config: &mut Config,
    headers: &mut Vec<Entry<'a>>,
    from_env: &mut Vec<Entry<'a>>,
) -> Result<(Option<&'static str>, u32), Error> {
    let outer = match place {
        Place::OAuth2 => OAUTH2,
        _ => "",
    };
    // Syntax errors inside `oauth2` name it; elsewhere, the document.
    let syntax = |e| match place {
        Place::OAuth2 => in_field(OAUTH2, e),
        _ => not_json(e),
    };
    match r.s.kind().map_err(syntax)? {
        Kind::Object => {}
        other => {
            let expected = match place {
                Place::Top => "the configuration must be a JSON object",
                _ => "must be an object",
            };
            return Err(Error::new(outer, &found(expected, other)));
        }
    }
    let mut given = None;
    let mut seen = 0u32;
    let mut members = r.s.object().map_err(syntax)?;
    while let Some(key) = r.s.next_key(&mut members).map_err(syntax)? {
        let at = (NAMES.iter().zip(&FIELDS))
            .position(|(name, &f)| short(name) == key && allowed(f, place));
        let Some((i, name, field)) = at.and_then(|i| Some((i, *NAMES.get(i)?, *FIELDS.get(i)?)))
        else {
            let mut names = Vec::new();
            for (&name, &f) in NAMES.iter().zip(&FIELDS) {
                if allowed(f, place) {
                    names.push(short(name));
                }
            }
            return Err(unknown_field(outer, &key, &names));
        };
        if seen & 1 << i != 0 {
            return Err(Error::new(name, "is given more than once"));
        }
        seen |= 1 << i;
        if place != Place::OAuth2
            && !matches!(field, Field::Target | Field::Providers | Field::Name)
        {
            given.get_or_insert(name);
        }
        let s = &mut r.s;
        match field {
            Field::Target => {
                r.target = match choice(s, name, &["request", "response", "both"])? {
                    0 => Target::Request,
                    1 => Target::Response,
                    _ => Target::Both,
                }
            }
            Field::Providers => read_providers(r)?,
            Field::Name => config.name = provider_name(s, name)?,
            Field::OAuth2 => {
                config.oauth2 = Some(OAuth2 {
                    basic_auth: true,
                    header: "authorization".into(),
                    grant: "grant_type=client_credentials".into(),
                    ..OAuth2::default()
                });
                config.secret = true;
                read_object(r, Place::OAuth2, config)?;
            }
            Field::StaticHeaders => {
                *headers = string_map(s, name, HEADER_MAP)?;
            }
            Field::StaticHeadersEnv => {
                // The variables' names for now: read once every field is.
                *from_env = string_map(s, name, HEADER_MAP)?;
                for (_, variable) in from_env.iter() {
                    env_name(variable, name)?;
                }
            }
            _ if place == Place::OAuth2 => {
                let Some(o) = &mut config.oauth2 else {
                    continue; // never: `oauth2` set it before reading
                };
                read_member(s, name, field, o)?;
            }
            _ => read_field(s, name, field, config)?,
        }
    }
    Ok((given, seen))
}

/// The checks of a provider's fields against each other, once all are
/// read; then what it takes from the environment (`environ`): the values
/// of `static_headers_env` (`from_env`, by variable), checked with
/// `static_headers` (`headers`), and the client secret.
fn finish_provider<'a>(
    environ: &'a [u8],
    place: Place,
    seen: u32,
    mut headers: Vec<Entry<'a>>,
    mut from_env: Vec<Entry<'a>>,
    config: &mut Config,
) -> Result<(), Error> {
    if place == Place::Listed && config.name.is_empty() {
        return Err(Error::new(NAME, "is missing"));
    }
    // PATH is NAMES[2].
    if config.oauth2.is_some() && seen & 1 << 2 == 0 {
        return Err(Error::new(
            PATH,
            "is needed with oauth2: the token endpoint's path",
        ));
    }
    if config.retry_initial_ms > config.retry_max_ms {
        let mut problem = String::new();
        push_duration(&mut problem, config.retry_initial_ms);
        problem.push_str(" is longer than retry_max (");
        push_duration(&mut problem, config.retry_max_ms);
        problem.push(')');
        return Err(Error::of(RETRY_INITIAL, problem));
    }
    for (_, value) in &mut from_env {
        *value = Cow::Borrowed(lookup(environ, value, STATIC_HEADERS_ENV)?);
    }
    config.secret |= !from_env.is_empty();
    if let Some(o) = &mut config.oauth2 {
        let secret = lookup(environ, &o.client_secret_env, CLIENT_SECRET_ENV)?;
        let mut body = o.grant.clone();
        match o.basic_auth {
            true => o.basic = Some(form::basic_credentials(&o.client_id, secret)),
            false => {
                form::push_pair(&mut body, "client_id", &o.client_id);
                form::push_pair(&mut body, "client_secret", secret);
            }
        }
        o.body = body;
    }
    // Checked by the rules provider headers pass; a name in both is given again.
    let plain = headers.len();
    headers.extend(from_env);
    let (set, refused) = headers::validate(headers);
    if let Some(r) = refused.first() {
        // The values are never echoed: they may be credentials.
        let in_env = r.at >= plain;
        let field = if in_env {
            STATIC_HEADERS_ENV
        } else {
            STATIC_HEADERS
        };
        let problem = match (in_env, r.why) {
            (true, Refusal::Replaced) => String::from("is also in static_headers"),
            (_, why) => line(&["is refused: ", why.reason()]),
        };
        return Err(with_value(field, &r.name, &problem));
    }
    config.static_headers = set;
    Ok(())
}

/// The end of `oauth2`: the members it cannot do without.
fn finish_oauth2(config: &mut Config) -> Result<(), Error> {
    let Some(o) = &mut config.oauth2 else {
        return Ok(());
    };
    if o.client_id.is_empty() {
        return Err(Error::new("oauth2.client_id", "is missing"));
    }
    if o.client_secret_env.is_empty() {
        return Err(Error::new(CLIENT_SECRET_ENV, "is missing"));
    }
    Ok(())
}

/// The value of the environment variable `name`, named by `field`; an
/// error, naming the variable but never a value, when it is unset or empty.
fn lookup<'a>(environ: &'a [u8], name: &str, field: &'static str) -> Result<&'a str, Error> {
    let value = environ::lookup(environ, name).filter(|v| !v.is_empty());
    value.ok_or_else(|| {
        let mut problem = String::from("the environment variable ");
        push_quoted(&mut problem, name);
        problem.push_str(" is not set, or empty");
        Error::of(field, problem)
    })
}

/// `providers`: an array of provider objects, names unique.
fn read_providers(r: &mut Reading) -> Result<(), Error> {
    expect(
        &mut r.s,
        PROVIDERS,
        Kind::Array,
        "must be an array of objects",
    )?;
    let mut items = r.s.array().map_err(|e| in_field(PROVIDERS, e))?;
    while r
        .s
        .next_item(&mut items)
        .map_err(|e| in_field(PROVIDERS, e))?
    {
        let index = r.listed.len();
        if index == MAX_PROVIDERS {
            return Err(Error::new(PROVIDERS, TOO_MANY));
        }
        let mut config = Config::default();
        read_object(r, Place::Listed, &mut config).map_err(|e| e.within(index))?;
        if r.listed.iter().any(|p| p.name == config.name) {
            let problem = "is the name of an earlier provider";
            return Err(with_value(NAME, &config.name, problem).within(index));
        }
        r.listed.push(config);
    }
    if r.listed.is_empty() {
        return Err(Error::new(PROVIDERS, "is empty"));
    }
    Ok(())
}

/// A provider's `name`: it goes into metric names and log lines.
fn provider_name(s: &mut Scanner, field: &'static str) -> Result<String, Error> {
    let value = string_field(s, field, "must be a string")?;
    let fits = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-');
    if value.is_empty() || value.len() > 64 || !value.as_bytes().iter().all(fits) {
        let problem = "must be 1 to 64 of a-z, 0-9, '_' and '-'";
        return Err(with_value(field, &value, problem));
    }
    Ok(value)
}

/// Reads the value of the provider field `field` (the name of `which`) into `config`.
fn read_field(
    s: &mut Scanner,
    field: &'static str,
    which: Field,
    config: &mut Config,
) -> Result<(), Error> {
    match which {
        Field::Cluster => config.provider.cluster = cluster(s, field)?,
        Field::Authority => config.provider.authority = authority(s, field)?,
        Field::Path => config.provider.path = path(s, field)?,
        Field::Expiry => config.refresh_ms = duration_field(s, field)?,
        Field::Timeout => config.timeout_ms = duration_field(s, field)?,
        Field::Overwrite => {
            expect(s, field, Kind::Bool, "must be true or false")?;
            config.overwrite = s.boolean().map_err(|e| in_field(field, e))?;
        }
        Field::RetryInitial => config.retry_initial_ms = duration_field(s, field)?,
        Field::RetryMax => config.retry_max_ms = duration_field(s, field)?,
        Field::MaxStale => config.max_stale_ms = optional_duration(s, field)?,
        Field::OnMissing => {
            config.on_missing = match choice(s, field, &["continue", "deny", "wait"])? {
                0 => OnMissing::Continue,
                1 => OnMissing::Deny,
                _ => OnMissing::Wait,
            }
        }
        Field::DenyStatus => config.deny_status = deny_status(s, field)?,
        Field::WaitTimeout => config.wait_timeout_ms = bounded_duration(s, field, MAX_WAIT_MS)?,
        Field::Destinations => destinations(
            s,
            field,
            config.destinations.insert(Destinations::new(Vec::new())),
        )?,
        // Read by `read_object`.
        _ => {}
    }
    Ok(())
}

/// Form parameters the filter sends itself, so `params` may not.
const RESERVED_PARAMS: [&str; 4] = ["grant_type", "client_id", "client_secret", "scope"];

/// Reads the value of the `oauth2` member `field` (the name of `which`)
/// into `o`: `scopes`, `audience`, `resource` and `params` go into the
/// grant's form body as they are read.
fn read_member(
    s: &mut Scanner,
    field: &'static str,
    which: Field,
    o: &mut OAuth2,
) -> Result<(), Error> {
    match which {
        Field::ClientId => o.client_id = text(s, field, false)?,
        Field::ClientSecretEnv => {
            let name = string_field(s, field, "must be a string")?;
            env_name(&name, field)?;
            o.client_secret_env = name;
        }
        Field::ClientAuth => o.basic_auth = choice(s, field, &["basic", "body"])? == 0,
        Field::Scopes => scopes(s, field, &mut o.grant)?,
        // Sent as the parameter the member is named for.
        Field::Audience | Field::Resource => {
            form::push_pair(&mut o.grant, short(field), &text(s, field, false)?)
        }
        Field::Params => {
            for (name, value) in &string_map(s, field, "must be an object of strings")? {
                if RESERVED_PARAMS.contains(&&**name) {
                    return Err(with_value(field, name, "is sent by the filter itself"));
                }
                if name.is_empty() || has_control(name) {
                    return Err(with_value(field, name, "is not a parameter name"));
                }
                form::push_pair(&mut o.grant, name, value);
            }
        }
        Field::Header => {
            let name = string_field(s, field, "must be a string")?;
            o.header = headers::check_name(&name)
                .map_err(|why| with_value(field, &name, &line(&["is refused: ", why.reason()])))?;
        }
        _ => {
            let prefix = text(s, field, true)?;
            if let Some(b' ' | b'\t') = prefix.as_bytes().first() {
                return Err(Error::new(field, "must not start with white space"));
            }
            o.prefix = Some(prefix);
        }
    }
    Ok(())
}

/// True when `text` has a control character (Unicode's Cc: C0, DEL, C1).
fn has_control(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c < 0x20 || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|n| *n < 0xa0))
    })
}

/// A string without control characters; empty only if `empty_ok`.
fn text(s: &mut Scanner, field: &'static str, empty_ok: bool) -> Result<String, Error> {
    let value = string_field(s, field, "must be a string")?;
    if value.is_empty() && !empty_ok {
        return Err(Error::new(field, "is empty"));
    }
    if has_control(&value) {
        return Err(Error::new(field, "has a control character"));
    }
    Ok(value)
}

/// `scopes`: scope tokens (RFC 6749 §3.3), added to `grant` as one
/// space-separated `scope` (a space form-encoded as `+`).
fn scopes(s: &mut Scanner, field: &'static str, grant: &mut String) -> Result<(), Error> {
    expect(s, field, Kind::Array, "must be an array of strings")?;
    let mut items = s.array().map_err(|e| in_field(field, e))?;
    let mut first = true;
    while s.next_item(&mut items).map_err(|e| in_field(field, e))? {
        let scope = string_field(s, field, "must be an array of strings")?;
        let token = |b: &u8| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e);
        if scope.is_empty() || !scope.as_bytes().iter().all(token) {
            return Err(with_value(field, &scope, "is not a scope token"));
        }
        grant.push_str(if first { "&scope=" } else { "+" });
        form::push_encoded(grant, &scope);
        first = false;
    }
    Ok(())
}

/// An object of string to string, as given (`static_headers` and the like).
fn string_map<'a>(
    s: &mut Scanner<'a>,
    field: &'static str,
    expected: &str,
) -> Result<Vec<Entry<'a>>, Error> {
    expect(s, field, Kind::Object, expected)?;
    let mut members = s.object().map_err(|e| in_field(field, e))?;
    let mut map = Vec::new();
    while let Some(name) = s.next_key(&mut members).map_err(|e| in_field(field, e))? {
        let kind = s.kind().map_err(|e| in_field(field, e))?;
        if kind != Kind::String {
            let mut problem = String::from("the value of ");
            push_quoted(&mut problem, &name);
            problem.push_str(&found(" must be a string", kind));
            return Err(Error::of(field, problem));
        }
        let value = s.string().map_err(|e| in_field(field, e))?;
        map.push((name, value));
    }
    Ok(map)
}

/// An environment variable's name: a letter or `_`, then letters, digits, `_`.
fn env_name(name: &str, field: &'static str) -> Result<(), Error> {
    let bytes = name.as_bytes();
    let first = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
    if !first
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        // Not quoted: what was put here by mistake may be the secret itself.
        let problem =
            "is not an environment variable name (letters, digits and '_', not a digit first)";
        return Err(Error::new(field, problem));
    }
    Ok(())
}

/// `destinations`: a non-empty array of valid entries (destination.rs).
fn destinations(s: &mut Scanner, field: &'static str, out: &mut Destinations) -> Result<(), Error> {
    let expected = "must be an array of strings";
    expect(s, field, Kind::Array, expected)?;
    let mut items = s.array().map_err(|e| in_field(field, e))?;
    while s.next_item(&mut items).map_err(|e| in_field(field, e))? {
        let entry = string_field(s, field, expected)?;
        if let Some(problem) = destination::problem(&entry) {
            return Err(with_value(field, &entry, problem));
        }
        out.push(entry);
    }
    if out.entries().is_empty() {
        return Err(Error::new(
            field,
            "is empty; leave it out for every destination",
        ));
    }
    Ok(())
}

fn string_field(s: &mut Scanner, field: &'static str, expected: &str) -> Result<String, Error> {
    expect(s, field, Kind::String, expected)?;
    let value = s.string().map_err(|e| in_field(field, e))?;
    if value.len() > MAX_NAME_BYTES {
        let mut problem = String::from("is longer than ");
        push_u64(&mut problem, MAX_NAME_BYTES as u64);
        problem.push_str(" bytes");
        return Err(Error::of(field, problem));
    }
    Ok(value.into_owned())
}

fn cluster(s: &mut Scanner, field: &'static str) -> Result<String, Error> {
    let value = string_field(s, field, "must be a string naming an Envoy cluster")?;
    if value.is_empty() {
        return Err(Error::new(
            field,
            "is empty; name the Envoy cluster of the header provider",
        ));
    }
    if has_control(&value) {
        return Err(Error::new(field, "has a control character"));
    }
    Ok(value)
}

fn authority(s: &mut Scanner, field: &'static str) -> Result<String, Error> {
    let value = string_field(
        s,
        field,
        "must be a string, a host name with an optional port",
    )?;
    if value.is_empty() {
        return Err(Error::new(
            field,
            "is empty; give the host name the provider expects",
        ));
    }
    if value.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'/') {
        return Err(with_value(
            field,
            &value,
            "must be a host name with an optional port, without white space or '/'",
        ));
    }
    Ok(value)
}

fn path(s: &mut Scanner, field: &'static str) -> Result<String, Error> {
    let value = string_field(s, field, "must be a string starting with \"/\"")?;
    let problem = if !value.starts_with('/') {
        "must start with \"/\""
    } else if value.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        "must not contain white space, control characters or '#'"
    } else {
        return Ok(value);
    };
    // Quoted without its query string, which may carry a key.
    let mut text = String::new();
    super::text::push_path(&mut text, &value);
    text.push(' ');
    text.push_str(problem);
    Err(Error::of(field, text))
}

fn duration_field(s: &mut Scanner, field: &'static str) -> Result<u64, Error> {
    let text = string_field(
        s,
        field,
        "must be a duration string such as \"5s\", \"5m\" or \"1h30m\"",
    )?;
    duration::parse_ms(&text).map_err(|e| {
        let mut problem = String::new();
        push_quoted(&mut problem, &text);
        problem.push(' ');
        e.describe(&mut problem);
        Error::of(field, problem)
    })
}

/// A duration of at most `max`.
fn bounded_duration(s: &mut Scanner, field: &'static str, max: u64) -> Result<u64, Error> {
    let ms = duration_field(s, field)?;
    if ms <= max {
        return Ok(ms);
    }
    let mut problem = String::new();
    push_duration(&mut problem, ms);
    problem.push_str(" is longer than the maximum, ");
    push_duration(&mut problem, max);
    Err(Error::of(field, problem))
}

/// A duration, or `null` for none.
fn optional_duration(s: &mut Scanner, field: &'static str) -> Result<Option<u64>, Error> {
    if s.kind().map_err(|e| in_field(field, e))? == Kind::Null {
        s.null().map_err(|e| in_field(field, e))?;
        return Ok(None);
    }
    duration_field(s, field).map(Some)
}

/// One of a few words: its index in `words`.
fn choice(s: &mut Scanner, field: &'static str, words: &[&str]) -> Result<usize, Error> {
    let mut list = String::from("one of ");
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        push_quoted(&mut list, word);
    }
    let value = string_field(s, field, &line(&["must be ", &list]))?;
    match words.iter().position(|word| *word == value) {
        Some(i) => Ok(i),
        None => Err(with_value(field, &value, &line(&["is not ", &list]))),
    }
}

fn deny_status(s: &mut Scanner, field: &'static str) -> Result<u32, Error> {
    const EXPECTED: &str = "must be an HTTP status from 400 to 599";
    expect(s, field, Kind::Number, EXPECTED)?;
    let status = s.integer().map_err(|e| in_field(field, e))?;
    match u32::try_from(status) {
        Ok(status @ 400..=599) => Ok(status),
        _ => {
            let mut problem = String::from(EXPECTED);
            problem.push_str(", found ");
            if status < 0 {
                problem.push('-');
            }
            super::text::push_u64(&mut problem, status.unsigned_abs());
            Err(Error::of(field, problem))
        }
    }
}

/// Checks the next value is of `kind`; `expected` is the sentence for when it is not.
fn expect(s: &mut Scanner, field: &'static str, kind: Kind, expected: &str) -> Result<(), Error> {
    match s.kind() {
        Ok(k) if k == kind => Ok(()),
        Ok(other) => Err(Error::new(field, &found(expected, other))),
        Err(e) => Err(in_field(field, e)),
    }
}

#[inline(never)]
fn found(expected: &str, kind: Kind) -> String {
    line(&[expected, ", found ", kind.noun()])
}

#[inline(never)]
fn with_value(field: &'static str, value: &str, problem: &str) -> Error {
    let mut text = String::new();
    push_quoted(&mut text, value);
    text.push(' ');
    text.push_str(problem);
    Error::of(field, text)
}

fn json_problem(e: &json::Problem) -> String {
    let mut out = String::from(e.what);
    out.push_str(" at byte ");
    super::text::push_u64(&mut out, e.at as u64);
    out
}

#[inline(never)]
fn not_json(e: json::Error) -> Error {
    Error::of(
        "",
        line(&["the configuration is not valid JSON: ", &json_problem(&e)]),
    )
}

#[inline(never)]
fn in_field(field: &'static str, e: json::Error) -> Error {
    Error::of(field, json_problem(&e))
}

/// An unknown member `key` of the object `field` (`""`: the configuration),
/// whose members are `names`.
fn unknown_field(field: &'static str, key: &str, names: &[&str]) -> Error {
    let mut problem = String::from("unknown field ");
    push_quoted(&mut problem, key);
    match names.iter().find(|name| close(key, name)) {
        Some(name) => {
            problem.push_str("; did you mean \"");
            problem.push_str(name);
            problem.push_str("\"?");
        }
        None => {
            problem.push_str("; the fields are ");
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    problem.push_str(", ");
                }
                problem.push_str(name);
            }
        }
    }
    Error::of(field, problem)
}

/// True when `key` is `field` but for case, `-` for `_`, and a slip: one or
/// two characters replaced (a transposition is two), or one added or left
/// out. (Cheaper than an edit distance, which cost 1.2 KB of the module.)
fn close(key: &str, field: &str) -> bool {
    let norm = |b: &u8| match b {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    };
    let (k, f) = (key.as_bytes(), field.as_bytes());
    let first_difference = k.iter().map(norm).zip(f).position(|(a, &b)| a != b);
    let rest_equal = |k: &[u8], f: &[u8]| k.iter().map(norm).eq(f.iter().copied());
    match (k.len() as i64 - f.len() as i64, first_difference) {
        (0, _) => k.iter().map(norm).zip(f).filter(|(a, &b)| *a != b).count() <= 2,
        (1, None) | (-1, None) => true,
        (1, Some(i)) => rest_equal(
            k.get(i + 1..).unwrap_or_default(),
            f.get(i..).unwrap_or_default(),
        ),
        (-1, Some(i)) => rest_equal(
            k.get(i..).unwrap_or_default(),
            f.get(i + 1..).unwrap_or_default(),
        ),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn error(input: &str) -> String {
        parse(input.as_bytes()).unwrap_err().message()
    }

    /// The one provider of a configuration.
    fn first(input: &[u8]) -> Result<Config, Error> {
        let mut settings = parse(input)?;
        assert_eq!(settings.providers.len(), 1);
        Ok(settings.providers.remove(0))
    }

    #[test]
    fn each_name_is_its_field() {
        for (i, (name, field)) in NAMES.iter().zip(FIELDS).enumerate() {
            assert_eq!(field as usize, i, "{name}");
        }
        assert_eq!(NAMES[2], PATH);
    }

    #[test]
    fn empty_configuration_means_defaults() {
        for input in ["", "  \n", "{}", " { } "] {
            assert_eq!(
                parse(input.as_bytes()).unwrap(),
                Settings::default(),
                "{input:?}"
            );
        }
        let d = Config::default();
        assert_eq!(d.provider.cluster, "sidecar");
        assert_eq!(d.provider.authority, "sidecar");
        assert_eq!(d.provider.path, "/headers");
        assert_eq!(d.refresh_ms, 360_000);
        assert_eq!(d.timeout_ms, 5_000);
        assert!(d.overwrite);
        assert_eq!(
            (d.retry_initial_ms, d.retry_max_ms, d.max_stale_ms),
            (1_000, 60_000, None)
        );
        assert_eq!(
            (d.on_missing, d.deny_status, d.wait_timeout_ms),
            (OnMissing::Continue, 503, 2_000)
        );
        assert!(d.static_headers.is_empty());
        assert_eq!(d.destinations, None);
        assert_eq!(Settings::default().target, Target::Request);
    }

    #[test]
    fn mesh_fields_are_read() {
        let c = first(
            br#"{
                "retry_initial": "250ms",
                "retry_max": "30s",
                "max_stale": "10m",
                "on_missing": "wait",
                "deny_status": 401,
                "wait_timeout": "1500ms",
                "static_headers": {"X-Cluster": "eu-1", "x-team": "payments"}
            }"#,
        )
        .unwrap();
        assert_eq!(
            (c.retry_initial_ms, c.retry_max_ms, c.max_stale_ms),
            (250, 30_000, Some(600_000))
        );
        assert_eq!(
            (c.on_missing, c.deny_status, c.wait_timeout_ms),
            (OnMissing::Wait, 401, 1_500)
        );
        assert_eq!(
            c.static_headers.iter().collect::<Vec<_>>(),
            [("x-cluster", "eu-1"), ("x-team", "payments")]
        );
        assert_eq!(
            parse(br#"{"target": "both"}"#).unwrap().target,
            Target::Both
        );
        assert_eq!(first(br#"{"max_stale": null}"#).unwrap().max_stale_ms, None);
        assert_eq!(
            first(br#"{"on_missing": "deny"}"#).unwrap().on_missing,
            OnMissing::Deny
        );
        assert_eq!(
            parse(br#"{"target": "response"}"#).unwrap().target,
            Target::Response
        );
    }

    #[test]
    fn mesh_field_errors() {
        let cases = [
            (r#"{"on_missing": "block"}"#, r#"on_missing: "block" is not one of "continue", "deny", "wait""#),
            (r#"{"on_missing": true}"#, r#"on_missing: must be one of "continue", "deny", "wait", found a boolean"#),
            (r#"{"target": "upstream"}"#, r#"target: "upstream" is not one of "request", "response", "both""#),
            (r#"{"deny_status": 200}"#, "deny_status: must be an HTTP status from 400 to 599, found 200"),
            (r#"{"deny_status": -1}"#, "deny_status: must be an HTTP status from 400 to 599, found -1"),
            (r#"{"deny_status": 503.5}"#, "deny_status: expected a whole number at byte 19"),
            (r#"{"deny_status": "503"}"#, "deny_status: must be an HTTP status from 400 to 599, found a string"),
            (r#"{"max_stale": "forever"}"#, r#"max_stale: "forever" is not a duration; write a number and a unit, as in "250ms", "5s" or "1h30m""#),
            (r#"{"wait_timeout": "0ms"}"#, r#"wait_timeout: "0ms" is zero; a duration must be greater than zero"#),
            (r#"{"wait_timeout": "1193h"}"#, "wait_timeout: 1193h is longer than the maximum, 5m"),
            (r#"{"retry_initial": "90s"}"#, "retry_initial: 1m30s is longer than retry_max (1m)"),
            (r#"{"retry_initial": "2s", "retry_max": "1s"}"#, "retry_initial: 2s is longer than retry_max (1s)"),
            (r#"{"static_headers": ["x"]}"#, "static_headers: must be an object of header names to string values, found an array"),
            (r#"{"static_headers": {"x-a": 1}}"#, r#"static_headers: the value of "x-a" must be a string, found a number"#),
            (r#"{"static_headers": {"Host": "secret"}}"#, r#"static_headers: "Host" is refused: reserved name: host, content-length, hop-by-hop and x-envoy-* headers belong to Envoy"#),
            (r#"{"static_headers": {"x-a": "secret\r\n"}}"#, r#"static_headers: "x-a" is refused: value has a control character such as CR, LF or NUL"#),
            (r#"{"static_headers": {"x-a": "1", "X-A": "2"}}"#, r#"static_headers: "X-A" is refused: given again later; the later value is used"#),
        ];
        for (input, message) in cases {
            assert_eq!(error(input), message, "{input}");
        }
    }

    #[test]
    fn every_field_is_read() {
        let c = first(
            br#"{
                "header_providing_service_cluster": "outbound|8080||tokens.idp.svc.cluster.local",
                "header_providing_service_authority": "tokens.idp:8080",
                "header_providing_service_path": "/v1/headers?aud=orders",
                "header_cache_expiry": "1h30m",
                "header_providing_service_timeout": "250ms",
                "overwrite": false
            }"#,
        )
        .unwrap();
        assert_eq!(
            c.provider.cluster,
            "outbound|8080||tokens.idp.svc.cluster.local"
        );
        assert_eq!(c.provider.authority, "tokens.idp:8080");
        assert_eq!(c.provider.path, "/v1/headers?aud=orders");
        assert_eq!(c.refresh_ms, 5_400_000);
        assert_eq!(c.timeout_ms, 250);
        assert!(!c.overwrite);
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let cases = [
            (r#"{"header_cache_expiry": "5x"}"#, r#"header_cache_expiry: "5x" has an unknown unit "x"; use ms, s, m or h"#),
            (r#"{"header_providing_service_path": "/t?api_key=s3cr3t x"}"#, r#"header_providing_service_path: "/t" with a query string (not logged) must not contain white space, control characters or '#'"#),
            (r#"{"header_cache_expiry": "0s"}"#, r#"header_cache_expiry: "0s" is zero; a duration must be greater than zero"#),
            (r#"{"header_cache_expiry": "-5s"}"#, r#"header_cache_expiry: "-5s" is negative; a duration must be greater than zero"#),
            (r#"{"header_cache_expiry": "360"}"#, r#"header_cache_expiry: "360" has no unit; add one of ms, s, m, h (as in "360s")"#),
            (r#"{"header_cache_expiry": "9999h"}"#, r#"header_cache_expiry: "9999h" is too long; the most is 1193h"#),
            (r#"{"header_cache_expiry": 360}"#, r#"header_cache_expiry: must be a duration string such as "5s", "5m" or "1h30m", found a number"#),
            (r#"{"header_providing_service_timeout": "1.5ms"}"#, r#"header_providing_service_timeout: "1.5ms" is finer than a millisecond"#),
            (r#"{"header_providing_service_timeout": ""}"#, r#"header_providing_service_timeout: "" is empty; give a duration such as "5s""#),
            (r#"{"overwrite": "yes"}"#, "overwrite: must be true or false, found a string"),
            (r#"{"overwrite": tru}"#, "overwrite: expected true or false at byte 14"),
            (r#"{"header_providing_service_cluster": ""}"#, "header_providing_service_cluster: is empty; name the Envoy cluster of the header provider"),
            (r#"{"header_providing_service_cluster": null}"#, "header_providing_service_cluster: must be a string naming an Envoy cluster, found null"),
            (r#"{"header_providing_service_authority": "a b"}"#, r#"header_providing_service_authority: "a b" must be a host name with an optional port, without white space or '/'"#),
            (r#"{"header_providing_service_authority": ""}"#, "header_providing_service_authority: is empty; give the host name the provider expects"),
            (r#"{"header_providing_service_path": "headers"}"#, r#"header_providing_service_path: "headers" must start with "/""#),
            (r#"{"header_providing_service_path": "/a b"}"#, r#"header_providing_service_path: "/a b" must not contain white space, control characters or '#'"#),
            (r#"{"header_providing_service_path": ["/a"]}"#, r#"header_providing_service_path: must be a string starting with "/", found an array"#),
            (r#"{"overwrite": true, "overwrite": false}"#, "overwrite: is given more than once"),
        ];
        for (input, message) in cases {
            assert_eq!(error(input), message, "{input}");
        }
    }

    #[test]
    fn unknown_fields_are_errors_with_a_suggestion() {
        assert_eq!(
            error(r#"{"header_cache_expiri": "5s"}"#),
            r#"unknown field "header_cache_expiri"; did you mean "header_cache_expiry"?"#
        );
        assert_eq!(
            error(r#"{"Overwrite": true}"#),
            r#"unknown field "Overwrite"; did you mean "overwrite"?"#
        );
        assert_eq!(
            error(r#"{"header-cache-expiry": "5s"}"#),
            r#"unknown field "header-cache-expiry"; did you mean "header_cache_expiry"?"#
        );
        for slip in [
            "header_cach_expiry",
            "header_cachee_expiry",
            "ovewrrite",
            "Retry_Maxx",
            "etry_max",
        ] {
            let message = error(&format!(r#"{{"{slip}": 1}}"#));
            assert!(message.contains("; did you mean \""), "{slip}: {message}");
        }
        for far in ["header_expiry", "overwriting", "x"] {
            let message = error(&format!(r#"{{"{far}": 1}}"#));
            assert!(message.contains("; the fields are "), "{far}: {message}");
        }
        assert_eq!(
            error(r#"{"cluster": "x"}"#),
            "unknown field \"cluster\"; the fields are header_providing_service_cluster, header_providing_service_authority, \
             header_providing_service_path, header_cache_expiry, header_providing_service_timeout, overwrite, \
             retry_initial, retry_max, max_stale, on_missing, deny_status, wait_timeout, static_headers, \
             static_headers_env, oauth2, destinations, target, providers"
        );
    }

    #[test]
    fn documents_that_are_not_objects_or_not_json() {
        assert_eq!(
            error("[]"),
            "the configuration must be a JSON object, found an array"
        );
        assert_eq!(
            error("\"x\""),
            "the configuration must be a JSON object, found a string"
        );
        assert_eq!(
            error("{"),
            "the configuration is not valid JSON: ended inside an object at byte 1"
        );
        assert_eq!(
            error(r#"{"overwrite": true,}"#),
            "the configuration is not valid JSON: expected a string key at byte 19"
        );
        assert_eq!(
            error(r#"{"overwrite": true} {}"#),
            "the configuration is not valid JSON: unexpected data after the JSON value at byte 20"
        );
        assert_eq!(
            error("x"),
            "the configuration is not valid JSON: expected a JSON value at byte 0"
        );
        assert_eq!(
            first(b"{\"overwrite\": \"\xff\"}").unwrap_err().message(),
            "the configuration is not valid JSON: is not valid UTF-8 at byte 15"
        );
    }

    #[test]
    fn shared_data_keys_separate_plugins_and_providers() {
        let p = Config::default().provider;
        let key = p.shared_data_key("ha", &[""]);
        assert!(key.starts_with("header_augmenter/v3/ha/"), "{key}");
        assert_eq!(key.len(), "header_augmenter/v3/ha/".len() + 16);
        assert_eq!(key, p.shared_data_key("ha", &[""]));
        assert_ne!(key, p.shared_data_key("other", &[""]));
        let mut q = p.clone();
        q.path = "/other".into();
        assert_ne!(key, q.shared_data_key("ha", &[""]));
        let a = Provider {
            cluster: "ab".into(),
            authority: "c".into(),
            path: "/".into(),
        };
        let b = Provider {
            cluster: "a".into(),
            authority: "bc".into(),
            path: "/".into(),
        };
        assert_ne!(
            a.shared_data_key("ha", &[""]),
            b.shared_data_key("ha", &[""])
        );
    }

    #[test]
    fn sizes_are_bounded() {
        let huge = format!(
            "{{\"header_providing_service_path\": \"/{}\"}}",
            "a".repeat(70_000)
        );
        assert_eq!(
            error(&huge),
            "the configuration is 70038 bytes, over the 65536-byte limit"
        );
        let long = format!(
            "{{\"header_providing_service_path\": \"/{}\"}}",
            "a".repeat(1024)
        );
        assert_eq!(
            error(&long),
            "header_providing_service_path: is longer than 1024 bytes"
        );
        let fits = format!(
            "{{\"header_providing_service_path\": \"/{}\"}}",
            "a".repeat(1023)
        );
        assert!(parse(fits.as_bytes()).is_ok());
    }

    #[test]
    fn providers_and_destinations_are_read() {
        let settings = parse(
            br#"{"target": "both", "providers": [
                {"name": "legacy", "header_providing_service_cluster": "idp", "destinations": ["legacy_api"]},
                {"name": "api-2", "header_cache_expiry": "1m", "on_missing": "deny",
                 "destinations": ["api.example.com", "*.corp.internal"]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(settings.target, Target::Both);
        assert_eq!(settings.providers.len(), 2);
        let (a, b) = (&settings.providers[0], &settings.providers[1]);
        assert_eq!(
            (a.name.as_str(), a.provider.cluster.as_str()),
            ("legacy", "idp")
        );
        assert_eq!(a.destinations.as_ref().unwrap().entries(), ["legacy_api"]);
        assert_eq!(
            (b.name.as_str(), b.refresh_ms, b.on_missing),
            ("api-2", 60_000, OnMissing::Deny)
        );
        assert_eq!(
            b.destinations.as_ref().unwrap().entries(),
            ["api.example.com", "*.corp.internal"]
        );
        assert_eq!(
            b.provider.cluster, "sidecar",
            "each provider has its own defaults"
        );
        let top = first(br#"{"destinations": ["legacy_api"]}"#).unwrap();
        assert_eq!(
            (top.name.as_str(), top.destinations.unwrap().entries()),
            ("", &["legacy_api".to_string()][..])
        );
    }

    #[test]
    fn provider_and_destination_errors() {
        let cases = [
            (
                r#"{"providers": {}}"#,
                "providers: must be an array of objects, found an object",
            ),
            (r#"{"providers": []}"#, "providers: is empty"),
            (
                r#"{"providers": [1]}"#,
                "providers[0]: must be an object, found a number",
            ),
            (r#"{"providers": [{}]}"#, "providers[0].name: is missing"),
            (
                r#"{"providers": [{"name": "a"}, {"name": "a"}]}"#,
                r#"providers[1].name: "a" is the name of an earlier provider"#,
            ),
            (
                r#"{"providers": [{"name": "A b"}]}"#,
                r#"providers[0].name: "A b" must be 1 to 64 of a-z, 0-9, '_' and '-'"#,
            ),
            (
                r#"{"providers": [{"name": "a", "header_cache_expiry": "5x"}]}"#,
                r#"providers[0].header_cache_expiry: "5x" has an unknown unit "x"; use ms, s, m or h"#,
            ),
            (
                r#"{"providers": [{"name": "a"}, {"name": "b", "target": "both"}]}"#,
                r#"providers[1]: unknown field "target"; the fields are header_providing_service_cluster, header_providing_service_authority, header_providing_service_path, header_cache_expiry, header_providing_service_timeout, overwrite, retry_initial, retry_max, max_stale, on_missing, deny_status, wait_timeout, static_headers, static_headers_env, oauth2, destinations, name"#,
            ),
            (
                r#"{"providers": [{"name": "a", "destination": []}]}"#,
                r#"providers[0]: unknown field "destination"; did you mean "destinations"?"#,
            ),
            (
                r#"{"providers": [{"name": "a", "retry_initial": "2m"}]}"#,
                "providers[0].retry_initial: 2m is longer than retry_max (1m)",
            ),
            (
                r#"{"header_cache_expiry": "1m", "providers": [{"name": "a"}]}"#,
                "providers: cannot be given with top-level provider fields, as header_cache_expiry",
            ),
            (
                r#"{"providers": [{"name": "a"}], "overwrite": false}"#,
                "providers: cannot be given with top-level provider fields, as overwrite",
            ),
            (
                r#"{"name": "a"}"#,
                r#"unknown field "name"; the fields are header_providing_service_cluster, header_providing_service_authority, header_providing_service_path, header_cache_expiry, header_providing_service_timeout, overwrite, retry_initial, retry_max, max_stale, on_missing, deny_status, wait_timeout, static_headers, static_headers_env, oauth2, destinations, target, providers"#,
            ),
            (
                r#"{"destinations": "legacy_api"}"#,
                "destinations: must be an array of strings, found a string",
            ),
            (
                r#"{"destinations": []}"#,
                "destinations: is empty; leave it out for every destination",
            ),
            (
                r#"{"destinations": [7]}"#,
                "destinations: must be an array of strings, found a number",
            ),
            (
                r#"{"destinations": ["*"]}"#,
                r#"destinations: "*" is not a cluster name, a host or "*." and a domain"#,
            ),
            (
                r#"{"destinations": ["api.*.com"]}"#,
                r#"destinations: "api.*.com" is not a cluster name, a host or "*." and a domain"#,
            ),
            (
                r#"{"destinations": ["a b"]}"#,
                r#"destinations: "a b" is not a cluster name, a host or "*." and a domain"#,
            ),
            (
                r#"{"destinations": [""]}"#,
                r#"destinations: "" is not a cluster name, a host or "*." and a domain"#,
            ),
            (
                r#"{"destinations": ["PassthroughCluster"]}"#,
                r#"destinations: "PassthroughCluster" never matches; name a ServiceEntry host instead"#,
            ),
            (
                r#"{"providers": [{"name": "a", "destinations": ["x", "*x"]}]}"#,
                r#"providers[0].destinations: "*x" is not a cluster name, a host or "*." and a domain"#,
            ),
            (
                r#"{"destinations": ["a",]}"#,
                "destinations: expected a JSON value at byte 22",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(error(input), message, "{input}");
        }
        let many: Vec<String> = (0..=MAX_PROVIDERS)
            .map(|i| format!(r#"{{"name": "p{i}"}}"#))
            .collect();
        let input = format!(r#"{{"providers": [{}]}}"#, many.join(","));
        assert_eq!(error(&input), "providers: has more than 16 providers");
        assert_eq!(TOO_MANY, format!("has more than {MAX_PROVIDERS} providers"));
    }

    const IDP: &str =
        r#""header_providing_service_cluster": "idp", "header_providing_service_path": "/token""#;

    fn oauth(fields: &str) -> String {
        format!(
            r#"{{{IDP}, "oauth2": {{"client_id": "app", "client_secret_env": "SECRET"{fields}}}}}"#
        )
    }

    fn loaded(input: &str, environ: &[u8]) -> Result<Config, Error> {
        let mut settings = load(input.as_bytes(), environ)?;
        Ok(settings.providers.remove(0))
    }

    #[test]
    fn an_oauth2_grant_is_read_and_its_request_built_from_the_environment() {
        let input = oauth(
            r#", "scopes": ["read", "write:all"], "audience": "https://api.example.com",
                "resource": "urn:x y", "params": {"tenant": "t&1"}, "header": "X-Token", "prefix": "Token ""#,
        );
        let c = loaded(&input, b"OTHER=1\0SECRET=s3cr3t:+/\0").unwrap();
        let o = c.oauth2.unwrap();
        assert_eq!(
            (o.client_id.as_str(), o.header.as_str(), o.prefix.as_deref()),
            ("app", "x-token", Some("Token "))
        );
        assert_eq!(
            o.body,
            "grant_type=client_credentials&scope=read+write%3Aall&audience=https%3A%2F%2Fapi.example.com\
             &resource=urn%3Ax+y&tenant=t%261"
        );
        assert_eq!(
            o.basic.as_deref(),
            Some(form::basic_credentials("app", "s3cr3t:+/").as_str())
        );
        let body = loaded(&oauth(r#", "client_auth": "body""#), b"SECRET=a b\0")
            .unwrap()
            .oauth2
            .unwrap();
        assert_eq!(
            body.body,
            "grant_type=client_credentials&client_id=app&client_secret=a+b"
        );
        assert_eq!(body.basic, None);
        let defaults = loaded(&oauth(""), b"SECRET=x\0").unwrap().oauth2.unwrap();
        assert_eq!(
            (
                defaults.header.as_str(),
                defaults.prefix,
                defaults.basic_auth
            ),
            ("authorization", None, true)
        );
    }

    #[test]
    fn a_provider_field_beside_providers_is_refused_whatever_its_kind() {
        let listed = r#""providers": [{"name": "a"}]"#;
        for field in [
            r#""static_headers": {"x-a": "1"}"#,
            r#""static_headers_env": {"x-a": "SECRET"}"#,
            r#""oauth2": {"client_id": "a", "client_secret_env": "SECRET"}"#,
        ] {
            let input = format!("{{{listed}, {field}}}");
            let got = load(input.as_bytes(), b"SECRET=s\0").unwrap_err().message();
            let name = field.split('"').nth(1).unwrap();
            assert_eq!(
                got,
                format!("providers: cannot be given with top-level provider fields, as {name}")
            );
        }
        let empty = br#"{"target": "response", "static_headers_env": {}}"#;
        assert!(
            load(empty, b"").is_ok(),
            "no value from the environment, no secret"
        );
    }

    #[test]
    fn environment_variables_give_static_headers() {
        let input = r#"{"static_headers": {"x-team": "a"}, "static_headers_env": {"X-Api-Key": "API_KEY"}}"#;
        let c = loaded(input, b"API_KEY=k-123\0").unwrap();
        assert_eq!(
            c.static_headers.iter().collect::<Vec<_>>(),
            [("x-team", "a"), ("x-api-key", "k-123")]
        );
    }

    #[test]
    fn oauth2_and_environment_errors_name_the_field_never_the_value() {
        let env = b"SECRET=s3cr3t\0BAD=a\x01b\0";
        let cases = [
            (oauth(""), &b""[..], r#"oauth2.client_secret_env: the environment variable "SECRET" is not set, or empty"#),
            (oauth(""), b"SECRET=\0", r#"oauth2.client_secret_env: the environment variable "SECRET" is not set, or empty"#),
            (format!(r#"{{{IDP}, "oauth2": {{"client_secret_env": "S"}}}}"#), env, "oauth2.client_id: is missing"),
            (format!(r#"{{{IDP}, "oauth2": {{"client_id": "a"}}}}"#), env, "oauth2.client_secret_env: is missing"),
            (format!(r#"{{{IDP}, "oauth2": {{"client_id": "a", "client_secret": "x"}}}}"#), env,
             r#"oauth2: unknown field "client_secret"; the fields are client_id, client_secret_env, client_auth, scopes, audience, resource, params, header, prefix"#),
            (oauth(r#", "client_auth": "jwt""#), env, r#"oauth2.client_auth: "jwt" is not one of "basic", "body""#),
            (oauth(r#", "scopes": ["a b"]"#), env, r#"oauth2.scopes: "a b" is not a scope token"#),
            (oauth(r#", "params": {"scope": "x"}"#), env, r#"oauth2.params: "scope" is sent by the filter itself"#),
            (oauth(r#", "params": {"grant_type": "x"}"#), env, r#"oauth2.params: "grant_type" is sent by the filter itself"#),
            (oauth(r#", "header": "host""#), env, r#"oauth2.header: "host" is refused: reserved name: host, content-length, hop-by-hop and x-envoy-* headers belong to Envoy"#),
            (oauth(r#", "client_id": "b""#), env, "oauth2.client_id: is given more than once"),
            (r#"{"oauth2": {"client_id": "a", "client_secret_env": "UNSET"}}"#.into(), env,
             r#"header_providing_service_path: is needed with oauth2: the token endpoint's path"#),
            (format!(r#"{{{IDP}, "oauth2": {{"client_id": "a", "client_secret_env": "1X"}}}}"#), env,
             "oauth2.client_secret_env: is not an environment variable name (letters, digits and '_', not a digit first)"),
            (r#"{"static_headers_env": {"x-key": "NOPE"}}"#.into(), env,
             r#"static_headers_env: the environment variable "NOPE" is not set, or empty"#),
            (r#"{"static_headers_env": {"x-key": "BAD"}}"#.into(), env,
             r#"static_headers_env: "x-key" is refused: value has a control character such as CR, LF or NUL"#),
            (r#"{"static_headers": {"X-Key": "1"}, "static_headers_env": {"x-key": "SECRET"}}"#.into(), env,
             r#"static_headers_env: "x-key" is also in static_headers"#),
            (r#"{"static_headers_env": {"x-key": "A=B"}}"#.into(), env,
             "static_headers_env: is not an environment variable name (letters, digits and '_', not a digit first)"),
            (oauth(r#", "prefix": " Bearer""#), env, "oauth2.prefix: must not start with white space"),
            (format!(r#"{{"target": "both", {IDP}, "oauth2": {{"client_id": "a", "client_secret_env": "SECRET"}}}}"#), env,
             "target: responses cannot get oauth2 tokens or static_headers_env values: they would go to clients"),
            (r#"{"target": "response", "static_headers_env": {"x-k": "SECRET"}}"#.into(), env,
             "target: responses cannot get oauth2 tokens or static_headers_env values: they would go to clients"),
            (r#"{"providers": [{"name": "a"}, {"name": "b", "static_headers_env": {"x-k": "NOPE"}}]}"#.into(), env,
             r#"providers[1].static_headers_env: the environment variable "NOPE" is not set, or empty"#),
        ];
        for (input, environ, message) in cases {
            let got = load(input.as_bytes(), environ).unwrap_err().message();
            assert_eq!(got, message, "{input}");
            assert!(!got.contains("s3cr3t"), "{got}");
        }
    }

    #[test]
    fn configuration_values_are_quoted_safely() {
        assert_eq!(
            error("{\"header_providing_service_path\": \"x\\r\\ninjected\"}"),
            r#"header_providing_service_path: "x\x0d\x0ainjected" must start with "/""#
        );
    }
}
