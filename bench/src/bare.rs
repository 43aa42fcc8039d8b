//! Bare wasmtime: what a call costs with nothing of the runtime around it.
//!
//! The same wasmtime engine (the runtime's own, so the same configuration: pooling
//! allocator, fuel, epochs), the same store limits (fuel, yield interval, epoch deadline, a
//! memory limiter), a `Linker` with wasmtime-wasi and trivial host functions for the four
//! imports, and `instantiate_async` plus the export call: no policy, no captured log, no
//! report.

use wasm_listeners::{Action, Change, Event, Limits, Objects};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "listener",
        exports: { default: async },
    });
}

use generated::wasm_listeners::listener::{email, log, queue, settings, types};
use generated::{Listener as Bindings, ListenerPre};

/// The epoch period of the runtime's engine (its `EPOCH_TICK`): a deadline in ticks.
const EPOCH_TICK_MS: u128 = 10;

/// One call's store data.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    settings: Vec<(String, String)>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for State {}

impl email::Host for State {
    fn send(&mut self, _message: email::Message) -> Result<(), email::SendError> {
        Ok(())
    }
}

impl queue::Host for State {
    fn push(&mut self, _name: String, _payload: Vec<u8>) -> Result<(), queue::PushError> {
        Ok(())
    }
}

impl log::Host for State {
    fn log(&mut self, _level: log::Level, _message: String) {}
}

impl settings::Host for State {
    fn get(&mut self, key: String) -> Option<String> {
        let found = self.settings.iter().find(|(k, _)| *k == key);
        found.map(|(_, v)| v.clone())
    }

    fn all(&mut self) -> Vec<(String, String)> {
        self.settings.clone()
    }
}

/// A component ready to be called the bare way.
pub(crate) struct BareListener {
    engine: wasmtime::Engine,
    pre: ListenerPre<State>,
    limits: Limits,
    settings: Vec<(String, String)>,
}

impl BareListener {
    /// Compiles `bytes` on `engine` and links it.
    pub(crate) fn new(
        engine: &wasmtime::Engine,
        bytes: &[u8],
        limits: Limits,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<BareListener> {
        let component = Component::new(engine, bytes)?;
        let mut linker = Linker::<State>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Bindings::add_to_linker::<_, HasSelf<State>>(&mut linker, |s| s)?;
        let pre = ListenerPre::new(linker.instantiate_pre(&component)?)?;
        let settings = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(BareListener {
            engine: engine.clone(),
            pre,
            limits,
            settings,
        })
    }

    /// One call of `handle` in a fresh instance; an error unless it returned `ok`.
    pub(crate) async fn call(
        &self,
        event: &types::Event,
        context: &types::Context,
    ) -> anyhow::Result<()> {
        let mut store = self.store()?;
        let instance = self.pre.instantiate_async(&mut store).await?;
        let handler = instance.wasm_listeners_listener_handler();
        match handler.call_handle(&mut store, event, context).await? {
            Ok(()) => Ok(()),
            Err(e) => anyhow::bail!("the listener failed: {e:?}"),
        }
    }

    fn store(&self) -> anyhow::Result<Store<State>> {
        let state = State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(self.limits.memory_bytes)?)
                .build(),
            settings: self.settings.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_fuel(self.limits.fuel)?;
        store.fuel_async_yield_interval(Some(self.limits.fuel_yield_interval))?;
        let ticks = self.limits.deadline.as_millis() / EPOCH_TICK_MS + 1;
        store.set_epoch_deadline(u64::try_from(ticks)?);
        store.epoch_deadline_trap();
        Ok(store)
    }
}

/// The event in the generated types of this module's bindings.
pub(crate) fn event(e: &Event) -> types::Event {
    let change = |c: &Change| types::Change {
        old: c.old.clone(),
        new: c.new.clone(),
    };
    types::Event {
        action: match e.action {
            Action::Create => types::Action::Create,
            Action::Update => types::Action::Update,
            Action::Delete => types::Action::Delete,
            Action::Read => types::Action::Read,
        },
        resource_name: e.resource_name.clone(),
        uri: e.uri.clone(),
        timestamp: e.timestamp,
        user_id: e.user_id.clone(),
        bucket_id: e.bucket_id.clone(),
        collection_id: e.collection_id.clone(),
        group_id: e.group_id.clone(),
        record_id: e.record_id.clone(),
        extras: e
            .extras
            .iter()
            .map(|(key, value)| types::Extra {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        objects: match &e.objects {
            Objects::NotGiven => types::Objects::NotGiven,
            Objects::Read(list) => types::Objects::Read(list.clone()),
            Objects::Changes(list) => types::Objects::Changes(list.iter().map(change).collect()),
        },
    }
}

/// A first-attempt, before-commit context for `listener`.
pub(crate) fn context(event_id: &str, listener: &str) -> types::Context {
    types::Context {
        event_id: event_id.to_owned(),
        attempt: 1,
        phase: types::Phase::BeforeCommit,
        source: types::Source::Cli,
        listener: listener.to_owned(),
        part: types::Part { index: 1, count: 1 },
    }
}
