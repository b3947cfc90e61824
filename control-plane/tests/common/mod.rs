//! What the replay tests share: the reference agent's recorded websocket frames.

use serde_json::Value;

/// The text frames the reference agent 1.105.1 sent on `which` (`acs` or `tcs`) to a stand-in
/// control plane, one list per recording (ecs-protocol's fixtures: an idle instance, then one
/// that restarted a task).
pub fn recorded_agent_text_frames(which: &str) -> Vec<Vec<String>> {
    [
        include_str!(
            "../../../ecs-protocol/tests/fixtures/go-agent-wire/ws-frames.external-idle.json"
        ),
        include_str!(
            "../../../ecs-protocol/tests/fixtures/go-agent-wire/ws-frames.external-restart-task.json"
        ),
    ]
    .into_iter()
    .map(|file| {
        let recorded: Vec<Value> = serde_json::from_str(file).expect("a recording is JSON");
        recorded
            .into_iter()
            .filter(|f| f["which"] == which && f["dir"] == "agent->server" && f["opcode"] == 1)
            .map(|f| f["data"].as_str().expect("a text frame").to_string())
            .collect()
    })
    .collect()
}
