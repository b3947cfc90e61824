//! ACS text frames (control plane -> agent and back) through `AcsFrame::decode`, and what the
//! agent then reads of a payload: each container's overrides. A frame that decodes must encode.
#![no_main]

use ecs_protocol::acs::{AcsFrame, AcsMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = AcsFrame::decode(text) else {
        return;
    };
    let _ = frame.type_name();
    if let AcsFrame::Known(message) = &frame {
        let _ = message.as_exception();
        if let AcsMessage::PayloadMessage(payload) = message {
            for task in payload.tasks() {
                for container in task.containers() {
                    let _ = container.parsed_overrides();
                }
            }
        }
    }
    let encoded = frame.encode().expect("a decoded ACS frame encodes");
    let _ = AcsFrame::decode(&encoded);
});
