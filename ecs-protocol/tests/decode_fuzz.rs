//! Property tests for the parse-at-the-edge functions: whatever arrives on the socket, decoding
//! returns a value or an error and never panics; unknown messages survive a round trip; timestamps
//! keep every millisecond.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_protocol::Timestamp;
use ecs_protocol::acs::{AcsFrame, AcsMessage};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = AcsFrame::decode(&text);
    }

    #[test]
    fn decoding_a_known_type_with_any_body_never_panics(
        index in 0..AcsMessage::TYPE_NAMES.len(),
        body in any_json(),
    ) {
        let text = json!({"type": AcsMessage::TYPE_NAMES[index], "message": body}).to_string();
        if let Ok(frame) = AcsFrame::decode(&text) {
            prop_assert_eq!(frame.type_name(), AcsMessage::TYPE_NAMES[index]);
        }
    }

    #[test]
    fn unknown_types_keep_their_body(type_name in "[A-Z][a-zA-Z]{0,30}", body in any_json()) {
        prop_assume!(!AcsMessage::is_known_type(&type_name));
        let envelope = json!({"type": type_name, "message": body});
        let frame = AcsFrame::decode(&envelope.to_string()).unwrap();
        prop_assert!(matches!(frame, AcsFrame::Unknown(_)));
        let re_encoded: Value = serde_json::from_str(&frame.encode().unwrap()).unwrap();
        prop_assert_eq!(re_encoded, serde_json::from_str::<Value>(&envelope.to_string()).unwrap());
    }

    #[test]
    fn timestamps_round_trip_to_the_millisecond(millis in -1_000_000_000_000_000_i64..1_000_000_000_000_000) {
        let t = Timestamp::from_unix_millis(millis);
        let text = serde_json::to_string(&t).unwrap();
        prop_assert_eq!(serde_json::from_str::<Timestamp>(&text).unwrap(), t, "{}", text);
    }
}
