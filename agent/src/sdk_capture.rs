//! Test support: an SDK HTTP client that records the URL of every request and answers none of
//! them (a connector error), so a test can see where an aws-sdk client would send its calls
//! (which endpoint it resolved) without a network.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;

/// The URLs asked for, in order. A lock: the connector is called from the SDK's tasks, the test
/// reads it once the call has failed.
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    /// Every URL so far.
    pub fn urls(&self) -> Vec<String> {
        self.0.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

#[derive(Debug)]
struct Recorder(Captured);

impl HttpConnector for Recorder {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Ok(mut urls) = self.0.0.lock() {
            urls.push(request.uri().to_string());
        }
        HttpConnectorFuture::ready(Err(ConnectorError::other(
            "captured, not sent".into(),
            None,
        )))
    }
}

/// A client for an SDK config's `http_client`, and what it records.
pub fn capturing_client() -> (SharedHttpClient, Captured) {
    let captured = Captured::default();
    let recorder = captured.clone();
    let client = http_client_fn(move |_, _| SharedHttpConnector::new(Recorder(recorder.clone())));
    (client, captured)
}
