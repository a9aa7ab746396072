//! A tracing layer that records every field written on a span, for the adapters' span tests
//! (`tests/span_fields_axum.rs`, `tests/span_fields_actix.rs`).

use std::sync::{Arc, Mutex};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// `(span name, field, value)` for every field recorded on a span, at creation or later.
pub type Fields = Mutex<Vec<(&'static str, String, String)>>;

/// A layer over tracing-subscriber's registry (which tracks the current span) that collects
/// [`Fields`]. Clones share the collection.
#[derive(Default, Clone)]
pub struct Recorder {
    fields: Arc<Fields>,
}

impl Recorder {
    /// What was recorded so far.
    pub fn fields(&self) -> Vec<(&'static str, String, String)> {
        self.fields
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

struct Collect<'a> {
    span: &'static str,
    out: &'a Fields,
}

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((self.span, field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        attrs.record(&mut Collect {
            span: attrs.metadata().name(),
            out: &self.fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        values.record(&mut Collect {
            span: span.name(),
            out: &self.fields,
        });
    }
}
