//! A scripted Envoy for the core's tests: one process (`World`) with its
//! clocks, shared data and metrics, running several VMs, each with root
//! contexts that come and go, streams, timers and provider calls. Time moves
//! only when a test says so, so lease takeovers, reconfigurations and clock
//! steps are exact and instant.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use super::host::{CallError, Host, Level, Map, MetricKind, Verdict};
use super::vm::Vm;

/// What the provider answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(body: &str) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One provider call a VM started.
#[derive(Clone, Debug)]
pub struct Call {
    pub vm: usize,
    pub root: u32,
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

#[derive(Default, Debug)]
pub struct Stream {
    pub root: u32,
    /// Envoy's `xds.cluster_name`: the cluster the route chose.
    pub cluster: Option<String>,
    pub request: Vec<(String, String)>,
    pub response: Vec<(String, String)>,
    pub local_reply: Option<u32>,
    pub resumed: bool,
    pub alive: bool,
}

/// The process: what every VM of one Envoy shares.
#[derive(Default)]
pub struct Process {
    pub monotonic_ms: Cell<u64>,
    pub wall_ms: Cell<u64>,
    shared: RefCell<BTreeMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    next_id: Cell<u32>,
    pub metrics: RefCell<Vec<(String, i64)>>,
    pub calls: RefCell<Vec<Call>>,
    /// Every VM's environment variables, as WASI hands them over.
    pub environment: RefCell<Vec<u8>>,
    pub logs: RefCell<Vec<(usize, Level, String)>>,
}

impl Process {
    fn id(&self) -> u32 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        id
    }

    pub fn metric(&self, name: &str) -> i64 {
        let full = format!("header_augmenter.{name}");
        let metrics = self.metrics.borrow();
        metrics.iter().find(|(n, _)| *n == full).map_or(0, |m| m.1)
    }

    /// Writes shared data as another module in the namespace might.
    pub fn write(&self, key: &str, value: &[u8]) {
        let cas = self.next_cas.get() + 1;
        self.next_cas.set(cas);
        self.shared
            .borrow_mut()
            .insert(key.into(), (value.into(), cas));
    }

    pub fn keys(&self) -> Vec<String> {
        self.shared.borrow().keys().cloned().collect()
    }

    pub fn logged(&self, needle: &str) -> usize {
        let logs = self.logs.borrow();
        logs.iter().filter(|(_, _, l)| l.contains(needle)).count()
    }

    /// Lines at `level` containing `needle`.
    pub fn logged_at(&self, level: Level, needle: &str) -> usize {
        let logs = self.logs.borrow();
        let at = |(_, l, line): &&(usize, Level, String)| *l == level && line.contains(needle);
        logs.iter().filter(at).count()
    }
}

#[derive(Clone)]
struct Root {
    name: String,
    root_id: String,
    alive: bool,
    tick_ms: u32,
    next_tick_ms: u64,
}

/// One VM's side of the host.
pub struct FakeHost {
    index: usize,
    process: Rc<Process>,
    effective: Cell<u32>,
    roots: RefCell<BTreeMap<u32, Root>>,
    pub streams: RefCell<BTreeMap<u32, Stream>>,
    configuration: RefCell<Vec<u8>>,
    response: RefCell<Option<Answer>>,
    pub call_error: Cell<Option<CallError>>,
}

impl FakeHost {
    fn root_of(&self, context: u32) -> u32 {
        match self.streams.borrow().get(&context) {
            Some(s) => s.root,
            None => context,
        }
    }

    fn identity(&self, context: u32) -> Option<(String, String)> {
        let root = self.root_of(context);
        let roots = self.roots.borrow();
        roots
            .get(&root)
            .map(|r| (r.name.clone(), r.root_id.clone()))
    }

    fn with_stream<R>(&self, f: impl FnOnce(&mut Stream) -> R) -> Option<R> {
        let mut streams = self.streams.borrow_mut();
        streams.get_mut(&self.effective.get()).map(f)
    }
}

impl Host for FakeHost {
    fn monotonic_ms(&self) -> u64 {
        self.process.monotonic_ms.get()
    }

    fn wall_ms(&self) -> u64 {
        self.process.wall_ms.get()
    }

    fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.process.shared.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        let current = self.process.shared.borrow().get(key).map(|e| e.1);
        if let (Some(current), Some(cas)) = (current, cas) {
            if current != cas {
                return false;
            }
        }
        self.process.write(key, value);
        true
    }

    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, CallError> {
        if let Some(e) = self.call_error.get() {
            return Err(e);
        }
        let token = self.process.id();
        self.process.calls.borrow_mut().push(Call {
            vm: self.index,
            root: self.root_of(self.effective.get()),
            token,
            cluster: cluster.into(),
            body: body.to_vec(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            timeout_ms,
        });
        Ok(token)
    }

    fn call_response_body(&self, size: usize) -> Option<Vec<u8>> {
        let response = self.response.borrow();
        let body = response.as_ref()?.body.as_bytes();
        Some(body[..size.min(body.len())].to_vec())
    }

    fn header(&self, map: Map, name: &str) -> Option<Vec<u8>> {
        let find = |list: &[(String, String)]| {
            list.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone().into_bytes())
        };
        match map {
            Map::CallResponse => {
                let response = self.response.borrow();
                let answer = response.as_ref()?;
                if name == ":status" {
                    return Some(answer.status.to_string().into_bytes());
                }
                find(&answer.headers)
            }
            Map::Request => self.with_stream(|s| find(&s.request)).flatten(),
            Map::Response => self.with_stream(|s| find(&s.response)).flatten(),
        }
    }

    fn replace_header(&self, map: Map, name: &str, value: &str) {
        self.with_stream(|s| {
            let list = match map {
                Map::Response => &mut s.response,
                _ => &mut s.request,
            };
            list.retain(|(n, _)| n != name);
            list.push((name.into(), value.into()));
        });
    }

    fn add_header(&self, map: Map, name: &str, value: &str) {
        self.with_stream(|s| {
            let list = match map {
                Map::Response => &mut s.response,
                _ => &mut s.request,
            };
            list.push((name.into(), value.into()));
        });
    }

    fn send_response(&self, status: u32, headers: &[(&str, &str)], _body: &str) {
        self.with_stream(|s| {
            s.local_reply = Some(status);
            s.response = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
        });
    }

    fn resume_request(&self) {
        self.with_stream(|s| s.resumed = true);
    }

    fn set_effective_context(&self, id: u32) -> bool {
        let alive = match self.streams.borrow().get(&id) {
            Some(s) => s.alive,
            None => self.roots.borrow().get(&id).is_some_and(|r| r.alive),
        };
        if alive {
            self.effective.set(id);
        }
        alive
    }

    fn set_tick(&self, ms: u32) {
        let root = self.root_of(self.effective.get());
        let now = self.monotonic_ms();
        if let Some(r) = self.roots.borrow_mut().get_mut(&root) {
            r.tick_ms = ms;
            r.next_tick_ms = now + u64::from(ms);
        }
    }

    fn property(&self, name: &str) -> Option<Vec<u8>> {
        let (plugin, root_id) = self.identity(self.effective.get())?;
        match name {
            "plugin_name" => Some(plugin.into_bytes()),
            "plugin_root_id" => Some(root_id.into_bytes()),
            super::vm::CLUSTER_PROPERTY => self
                .with_stream(|s| s.cluster.clone())
                .flatten()
                .map(String::into_bytes),
            _ => None,
        }
    }

    fn environment(&self) -> Vec<u8> {
        self.process.environment.borrow().clone()
    }

    fn plugin_configuration(&self, size: usize) -> Option<Vec<u8>> {
        let config = self.configuration.borrow();
        Some(config[..size.min(config.len())].to_vec())
    }

    fn log(&self, level: Level, line: &str) {
        let entry = (self.index, level, line.to_string());
        self.process.logs.borrow_mut().push(entry);
    }

    fn log_enabled(&self, _level: Level) -> bool {
        true
    }

    fn define_metric(&self, _kind: MetricKind, name: &str) -> Option<u32> {
        let mut metrics = self.process.metrics.borrow_mut();
        if let Some(i) = metrics.iter().position(|(n, _)| n == name) {
            return Some(i as u32);
        }
        metrics.push((name.into(), 0));
        Some(metrics.len() as u32 - 1)
    }

    fn increment_metric(&self, id: u32, offset: i64) {
        self.process.metrics.borrow_mut()[id as usize].1 += offset;
    }

    fn record_metric(&self, id: u32, value: u64) {
        self.process.metrics.borrow_mut()[id as usize].1 = value as i64;
    }

    fn memory_bytes(&self) -> u64 {
        65_536
    }
}

/// One VM: the core under test and its host.
pub struct FakeVm {
    pub vm: Vm,
    pub host: FakeHost,
}

/// One Envoy process with its VMs (one per worker).
pub struct World {
    pub process: Rc<Process>,
    pub vms: Vec<FakeVm>,
    /// Answered to every new call at the next step; `None` leaves calls pending.
    pub provider: Option<Answer>,
    /// Answers by provider cluster, before `provider`.
    pub by_cluster: BTreeMap<String, Answer>,
    answered: usize,
}

impl World {
    pub fn new(vms: usize) -> World {
        let process = Rc::new(Process::default());
        process.monotonic_ms.set(1_000_000);
        process.wall_ms.set(1_700_000_000_000);
        let vms = (0..vms)
            .map(|index| FakeVm {
                vm: Vm::default(),
                host: FakeHost {
                    index,
                    process: Rc::clone(&process),
                    effective: Cell::new(0),
                    roots: RefCell::default(),
                    streams: RefCell::default(),
                    configuration: RefCell::default(),
                    response: RefCell::default(),
                    call_error: Cell::new(None),
                },
            })
            .collect();
        World {
            process,
            vms,
            provider: None,
            by_cluster: BTreeMap::new(),
            answered: 0,
        }
    }

    pub fn now(&self) -> u64 {
        self.process.monotonic_ms.get()
    }

    /// A new root context in VM `vm`, configured with `json`; its id.
    pub fn configure(&mut self, vm: usize, name: &str, root_id: &str, json: &str) -> u32 {
        let (root, configured) = self.try_configure(vm, name, root_id, json);
        assert!(configured, "configure failed: {json}");
        root
    }

    /// The same, for a configuration that may fail: whether it was taken.
    pub fn try_configure(
        &mut self,
        vm: usize,
        name: &str,
        root_id: &str,
        json: &str,
    ) -> (u32, bool) {
        let root = self.process.id();
        let v = &mut self.vms[vm];
        let entry = Root {
            name: name.into(),
            root_id: root_id.into(),
            alive: true,
            tick_ms: 0,
            next_tick_ms: 0,
        };
        v.host.roots.borrow_mut().insert(root, entry);
        *v.host.configuration.borrow_mut() = json.as_bytes().to_vec();
        v.host.effective.set(root);
        (root, v.vm.on_configure(&v.host, root, json.len()))
    }

    /// Envoy destroys a root context (its filter was removed or replaced).
    pub fn destroy_root(&mut self, vm: usize, root: u32) {
        self.vms[vm]
            .host
            .roots
            .borrow_mut()
            .get_mut(&root)
            .unwrap()
            .alive = false;
    }

    /// A request on a stream of root context `root`: its id and the verdict.
    pub fn request(&mut self, vm: usize, root: u32, headers: &[(&str, &str)]) -> (u32, Verdict) {
        self.request_to(vm, root, None, headers)
    }

    /// A request routed to `cluster`.
    pub fn request_to(
        &mut self,
        vm: usize,
        root: u32,
        cluster: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u32, Verdict) {
        let id = self.process.id();
        let v = &mut self.vms[vm];
        let stream = Stream {
            root,
            cluster: cluster.map(String::from),
            request: headers
                .iter()
                .map(|(n, x)| (n.to_string(), x.to_string()))
                .collect(),
            alive: true,
            ..Stream::default()
        };
        v.host.streams.borrow_mut().insert(id, stream);
        v.host.effective.set(id);
        let verdict = v.vm.on_request_headers(&v.host, id);
        (id, verdict)
    }

    /// The value of header `name` on stream `id` as it went upstream.
    pub fn sent(&self, vm: usize, id: u32, name: &str) -> Option<String> {
        let streams = self.vms[vm].host.streams.borrow();
        let s = &streams[&id];
        s.request
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub fn stream<R>(&self, vm: usize, id: u32, f: impl FnOnce(&Stream) -> R) -> R {
        f(&self.vms[vm].host.streams.borrow()[&id])
    }

    /// The client of stream `id` goes away.
    pub fn cancel(&mut self, vm: usize, id: u32) {
        self.vms[vm]
            .host
            .streams
            .borrow_mut()
            .get_mut(&id)
            .unwrap()
            .alive = false;
    }

    /// Answers call `token` now, if the root context that made it lives.
    pub fn answer(&mut self, token: u32, answer: Answer) {
        let call = self
            .process
            .calls
            .borrow()
            .iter()
            .find(|c| c.token == token)
            .cloned()
            .unwrap();
        let v = &mut self.vms[call.vm];
        // Envoy cancels the calls of a destroyed root context: never answered.
        if !v
            .host
            .roots
            .borrow()
            .get(&call.root)
            .is_some_and(|r| r.alive)
        {
            return;
        }
        let size = answer.body.len();
        *v.host.response.borrow_mut() = Some(answer);
        v.host.effective.set(call.root);
        v.vm.on_http_call_response(&v.host, call.root, token, size);
        *v.host.response.borrow_mut() = None;
    }

    /// Runs every VM's timers in time order for `ms`, the provider answering
    /// each new call with `self.provider` at once, if set.
    pub fn run(&mut self, ms: u64) {
        let end = self.now() + ms;
        loop {
            self.answer_new_calls();
            let next = self.next_timer();
            match next {
                Some((at, vm, root)) if at <= end => {
                    self.advance_to(at);
                    let v = &mut self.vms[vm];
                    if let Some(r) = v.host.roots.borrow_mut().get_mut(&root) {
                        r.next_tick_ms = at + u64::from(r.tick_ms);
                    }
                    v.host.effective.set(root);
                    v.vm.on_tick(&v.host, root);
                }
                _ => break,
            }
        }
        self.advance_to(end);
        self.answer_new_calls();
    }

    /// Both clocks move on together, unless a test steps the wall clock.
    fn advance_to(&mut self, at: u64) {
        let delta = at.saturating_sub(self.now());
        self.process.monotonic_ms.set(self.now() + delta);
        self.process.wall_ms.set(self.process.wall_ms.get() + delta);
    }

    /// Answers the calls made since the last look: by `by_cluster` for the
    /// call's cluster, else by `provider`; a call neither answers stays out.
    fn answer_new_calls(&mut self) {
        loop {
            let call = self.process.calls.borrow().get(self.answered).cloned();
            let Some(call) = call else { break };
            self.answered += 1;
            let answer = self
                .by_cluster
                .get(&call.cluster)
                .or(self.provider.as_ref());
            if let Some(answer) = answer.cloned() {
                self.answer(call.token, answer);
            }
        }
    }

    fn next_timer(&self) -> Option<(u64, usize, u32)> {
        let mut best: Option<(u64, usize, u32)> = None;
        for (i, v) in self.vms.iter().enumerate() {
            for (&id, r) in v.host.roots.borrow().iter() {
                if r.alive && r.tick_ms > 0 && best.is_none_or(|b| r.next_tick_ms < b.0) {
                    best = Some((r.next_tick_ms, i, id));
                }
            }
        }
        best
    }

    pub fn calls(&self) -> usize {
        self.process.calls.borrow().len()
    }

    pub fn last_call(&self) -> Call {
        self.process.calls.borrow().last().cloned().unwrap()
    }

    /// Steps the wall clock, as NTP might; the monotonic clock goes on.
    pub fn step_wall_clock(&mut self, delta_ms: i64) {
        let wall = self.process.wall_ms.get() as i64 + delta_ms;
        self.process.wall_ms.set(wall as u64);
    }

    pub fn held(&self, vm: usize) -> usize {
        self.vms[vm].vm.held()
    }
}
