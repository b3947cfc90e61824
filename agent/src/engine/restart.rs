//! Container restart policy (`restartPolicy{enabled, ignoredExitCodes, restartAttemptPeriod}`, the
//! reference's `ecs-agent/api/container/restart/restart_tracker.go`): whether a container that
//! exited is started again in place instead of being reported STOPPED. Pure.

use std::time::{Duration, SystemTime};

use ecs_protocol::acs::RestartPolicy;

/// ECS's default `restartAttemptPeriod` (seconds).
pub const DEFAULT_ATTEMPT_PERIOD: i64 = 300;

/// Whether to restart a container that exited with `exit_code`, given when it started and when it
/// was last restarted. Errs with why not (for the log).
pub fn should_restart(
    policy: Option<&RestartPolicy>,
    exit_code: Option<i64>,
    started_at: Option<SystemTime>,
    last_restart_at: Option<SystemTime>,
    desired_stopped: bool,
    now: SystemTime,
) -> Result<(), &'static str> {
    let Some(policy) = policy.filter(|p| p.enabled == Some(true)) else {
        return Err("restart policy is not enabled");
    };
    if desired_stopped {
        return Err("container's desired status is stopped");
    }
    let Some(code) = exit_code else {
        return Err("exit code is nil");
    };
    if policy
        .ignored_exit_codes
        .as_deref()
        .unwrap_or_default()
        .contains(&code)
    {
        return Err("exit code should be ignored");
    }
    let period = Duration::from_secs(
        u64::try_from(
            policy
                .restart_attempt_period
                .unwrap_or(DEFAULT_ATTEMPT_PERIOD),
        )
        .unwrap_or(0),
    );
    let since = last_restart_at
        .or(started_at)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if now.duration_since(since).unwrap_or_default() < period {
        return Err("attempt reset period has not elapsed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(ignored: &[i64], period: i64) -> RestartPolicy {
        RestartPolicy {
            enabled: Some(true),
            ignored_exit_codes: Some(ignored.to_vec()),
            restart_attempt_period: Some(period),
        }
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    #[test]
    fn the_reference_rules() {
        let p = policy(&[0], 60);
        let at = |s| T0 + Duration::from_secs(s);
        assert_eq!(
            should_restart(Some(&p), Some(1), Some(at(0)), None, false, at(61)),
            Ok(())
        );
        assert!(should_restart(Some(&p), Some(1), Some(at(0)), None, false, at(30)).is_err());
        assert!(should_restart(Some(&p), Some(0), Some(at(0)), None, false, at(61)).is_err());
        assert!(should_restart(Some(&p), Some(1), Some(at(0)), None, true, at(61)).is_err());
        assert!(should_restart(Some(&p), None, Some(at(0)), None, false, at(61)).is_err());
        // The period counts from the last restart.
        assert!(
            should_restart(
                Some(&p),
                Some(1),
                Some(at(0)),
                Some(at(100)),
                false,
                at(130)
            )
            .is_err()
        );
        assert!(should_restart(None, Some(1), Some(at(0)), None, false, at(999)).is_err());
        let off = RestartPolicy {
            enabled: Some(false),
            ..p
        };
        assert!(should_restart(Some(&off), Some(1), Some(at(0)), None, false, at(999)).is_err());
    }
}
