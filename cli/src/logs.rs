//! Log lines on stderr, filtered by `RUST_LOG` (default: warnings): coloured only on a terminal
//! and without `NO_COLOR`, and every field neutralized, since ids, keys and messages come from
//! databases, workflow files and agents.

use std::fmt::Debug;
use std::io::IsTerminal;

use devflow_core::text::neutralize_line;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

pub fn init() {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .fmt_fields(fields())
        .init();
}

/// `message name=value …`, each value with its control characters made visible.
fn fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|writer: &mut Writer<'_>, field, value: &dyn Debug| {
        let text = format!("{value:?}");
        match field.name() {
            "message" => write!(writer, "{}", neutralize_line(&text)),
            name => write!(writer, "{name}={}", neutralize_line(&text)),
        }
    })
    .delimited(" ")
}

/// For tests: what `fields` makes of an event's fields.
#[cfg(test)]
fn formatted(fields: impl tracing_subscriber::field::RecordFields) -> String {
    let mut text = String::new();
    self::fields().format_fields(Writer::new(&mut text), fields).unwrap();
    text
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_hostile_field_is_logged_without_its_control_characters() {
        let seen = Arc::new(Mutex::new(String::new()));
        let layer = Capture(Arc::clone(&seen));
        let subscriber =
            tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(phase = %"pl\x1b[31man", "driving\x07 {}", "x\u{9b}2J");
        });
        let text = seen.lock().unwrap().clone();
        assert_eq!(text, "driving\u{2407} x\u{fffd}2J phase=pl\u{241b}[31man");
    }

    struct Capture(Arc<Mutex<String>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            *self.0.lock().unwrap() = super::formatted(event);
        }
    }
}
