//! Entry points for the fuzz targets (`fuzz/`, run with `cargo fuzz`) and for the test that
//! replays their corpora: each runs, on arbitrary bytes, a decoder of what a damaged data folder
//! can hand the store, the way the store runs it. None may panic; each answers an error instead.

use serde::de::DeserializeOwned;
use switchboard_domain::{Aggregate, Recorded};

use crate::kinds::{visit_kind, KindVisitor, PREFIXES};
use crate::log::LoggedEvent;
use crate::replay::AnyEvent;
use crate::{durable, layout, record};

/// A stored record: its envelope, snapshot envelope, key layouts, the durable-position file, and
/// its plaintext decoded as an event of every kind (what replay does after decryption).
pub fn stored_record(data: &[u8]) {
    if let Ok(view) = record::RecordView::parse(data) {
        let _ = (view.version, view.key_id, view.body.len());
    }
    let _ = record::parse_snapshot(data);
    let _ = durable::parse(data);
    let _ = layout::parse_event_key(data);
    let _ = layout::parse_stream_key(data);
    let _ = layout::parse_consumer_key(data);
    for prefix in PREFIXES {
        visit_kind(prefix, Decode(data));
    }
}

/// Decodes `.0` as an event of the kind visited, and checks it as replay does.
struct Decode<'a>(&'a [u8]);

impl KindVisitor for Decode<'_> {
    type Output = ();
    fn visit<A: Aggregate>(self, _: fn(A::Event) -> AnyEvent) {
        decode::<Recorded<A::Event>>(self.0);
    }
}

fn decode<E: LoggedEvent + DeserializeOwned>(data: &[u8]) {
    if let Ok(event) = rmp_serde::from_slice::<E>(data) {
        let _ = event.check_readable();
        let _ = event.clear_text_allowed();
    }
}
