//! A subscriber for the unit tests that must see what the crate logs.

/// Calls its function at every event of this crate (`tollgate_limit`'s
/// target), and records nothing else.
pub(crate) struct OnEvent<F>(pub(crate) F);

impl<F: Fn(&tracing::Event<'_>) + Send + Sync + 'static> tracing::Subscriber for OnEvent<F> {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with("tollgate_limit")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        (self.0)(event);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The messages this crate logs from now until the guard drops, on this
/// thread: each event's fields, as `Debug` shows them, one string an event.
pub(crate) fn recorded() -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tracing::subscriber::DefaultGuard,
) {
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = told.clone();
    let on_event = OnEvent(move |event: &tracing::Event<'_>| {
        let mut message = String::new();
        event.record(
            &mut |_: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                message.push_str(&format!("{value:?}"));
            },
        );
        record.lock().unwrap().push(message);
    });
    (told, tracing::subscriber::set_default(on_event))
}
