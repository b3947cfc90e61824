//! Polling a condition under a deadline: the only way these tests wait for the outside world.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// What a [`wait_until`] check may return.
///
/// Ready: `true`, `()`, `Some(v)`. Not yet: `false`, `None`. An `anyhow::Result` of any of these
/// is ready when its value is; an `Err` means not yet, and the last one is shown if the wait
/// times out, which is usually the most useful thing in the message. So a check can use `?`
/// and `ensure!` and return `Ok(())`, `Ok(Some(v))` or `Ok(None)`.
pub trait IntoPoll {
    type Output;
    /// `Ok(Some(v))` when ready, `Ok(None)` or `Err(why)` when not yet.
    fn into_poll(self) -> std::result::Result<Option<Self::Output>, String>;
}

impl IntoPoll for bool {
    type Output = ();
    fn into_poll(self) -> std::result::Result<Option<()>, String> {
        Ok(self.then_some(()))
    }
}

impl IntoPoll for () {
    type Output = ();
    fn into_poll(self) -> std::result::Result<Option<()>, String> {
        Ok(Some(()))
    }
}

impl<T> IntoPoll for Option<T> {
    type Output = T;
    fn into_poll(self) -> std::result::Result<Option<T>, String> {
        Ok(self)
    }
}

impl<P: IntoPoll> IntoPoll for Result<P> {
    type Output = P::Output;
    fn into_poll(self) -> std::result::Result<Option<P::Output>, String> {
        self.map_err(|e| format!("{e:#}"))?.into_poll()
    }
}

/// Calls `check` until it is ready or `timeout` has passed, and returns what it was ready with.
///
/// `what` completes "timed out after 10s waiting for ...", e.g. `"the registry to answer"`.
/// Checks start 10 ms apart and back off to 250 ms; the last check runs at the deadline.
pub fn wait_until<R: IntoPoll>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> R,
) -> Result<R::Output> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut pause = Duration::from_millis(10);
    let mut checks = 0u32;
    let mut last_error = None;
    loop {
        checks += 1;
        match check().into_poll() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        let now = Instant::now();
        if now >= deadline {
            let last = last_error
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default();
            bail!("timed out after {timeout:?} waiting for {what} ({checks} checks{last})");
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
