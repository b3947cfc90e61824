//! Small wire values used across the crate: open string enums, [`Timestamp`], network mode and
//! transport protocol.
//!
//! Owns the encoding rules for these values and nothing else; it must not know which message they
//! travel in.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an *open* string enum: a wire field whose value set AWS documents but may grow.
///
/// Known values get a variant; any other string decodes to `Unknown(String)` and re-encodes verbatim,
/// so a new value from AWS never fails a whole message (the reference agent's Go types are plain
/// strings there). Build values with `From<&str>` so a known string never lands in `Unknown`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// The string as it travels on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unknown(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $( $wire => Self::$variant, )+
                    _ => Self::Unknown(value),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}
pub(crate) use open_enum;

open_enum! {
    /// A task's Docker network mode (`networkMode`). ACS leaves it out for the default, which the
    /// agent treats as `bridge` on Linux.
    pub enum NetworkMode {
        Bridge => "bridge",
        Host => "host",
        Awsvpc => "awsvpc",
        /// No networking (`"none"`), not the absence of a value.
        None => "none",
    }
}

open_enum! {
    /// The transport protocol of a port mapping or network binding. ECS means `tcp` when absent.
    pub enum TransportProtocol {
        Tcp => "tcp",
        Udp => "udp",
    }
}

/// A point in time as AWS JSON protocols carry it: seconds since the Unix epoch as a JSON number.
///
/// Held with millisecond precision, which is what the AWS SDKs (and so the reference agent, e.g.
/// `"pullStartedAt": 1795317327.066`) send. Whole seconds are written as JSON integers, as the SDKs
/// do; anything else as a decimal number of seconds. Any JSON number is accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_millis: i64,
}

impl Timestamp {
    /// The timestamp `millis` milliseconds after (or, if negative, before) the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self {
            unix_millis: millis,
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.unix_millis
    }

    /// From fractional seconds since the epoch, rounded to the millisecond. `None` if the value is not
    /// finite or does not fit.
    pub fn from_unix_seconds(seconds: f64) -> Option<Self> {
        // 2^63 ms is about 292 million years: anything beyond is garbage, not a time.
        const LIMIT: f64 = 9.2e18;
        let millis = (seconds * 1000.0).round();
        if millis.is_finite() && millis.abs() < LIMIT {
            // In range and integral by the checks above, so the cast is exact.
            Some(Self::from_unix_millis(millis as i64))
        } else {
            None
        }
    }

    /// Fractional seconds since the epoch, as the wire carries them.
    pub fn unix_seconds(self) -> f64 {
        self.unix_millis as f64 / 1000.0
    }

    /// From a system time, truncated to the millisecond (saturating far outside the i64 range).
    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis())
                .map(|m| -m)
                .unwrap_or(i64::MIN),
        };
        Self::from_unix_millis(millis)
    }

    /// As a system time; `None` if the platform cannot represent it.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let magnitude = Duration::from_millis(self.unix_millis.unsigned_abs());
        if self.unix_millis >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.unix_millis < 0 { "-" } else { "" };
        let magnitude = self.unix_millis.unsigned_abs();
        write!(f, "{sign}{}.{:03}", magnitude / 1000, magnitude % 1000)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.unix_millis % 1000 == 0 {
            serializer.serialize_i64(self.unix_millis / 1000)
        } else {
            serializer.serialize_f64(self.unix_seconds())
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Self::from_unix_seconds(seconds)
            .ok_or_else(|| serde::de::Error::custom(format!("timestamp {seconds} is out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn open_enum_decodes_known_values_to_variants() {
        let mode: NetworkMode = serde_json::from_value(json!("awsvpc")).unwrap();
        assert_eq!(mode, NetworkMode::Awsvpc);
        assert_eq!(NetworkMode::from("none"), NetworkMode::None);
        assert_eq!(
            TransportProtocol::from(String::from("udp")),
            TransportProtocol::Udp
        );
    }

    #[test]
    fn open_enum_keeps_unknown_values_verbatim() {
        let mode: NetworkMode = serde_json::from_value(json!("nat")).unwrap();
        assert_eq!(mode, NetworkMode::Unknown("nat".into()));
        assert_eq!(serde_json::to_value(&mode).unwrap(), json!("nat"));
        assert_eq!(mode.to_string(), "nat");
    }

    #[test]
    fn open_enum_is_case_sensitive_like_the_wire() {
        assert_eq!(
            TransportProtocol::from("TCP"),
            TransportProtocol::Unknown("TCP".into())
        );
    }

    #[test]
    fn timestamp_keeps_milliseconds_exactly() {
        let t: Timestamp = serde_json::from_str("1795317327.066").unwrap();
        assert_eq!(t.unix_millis(), 1_795_317_327_066);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1795317327.066");
    }

    #[test]
    fn timestamp_writes_whole_seconds_as_an_integer() {
        let t: Timestamp = serde_json::from_str("1795317300").unwrap();
        assert_eq!(t.unix_millis(), 1_795_317_300_000);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1795317300");
    }

    #[test]
    fn timestamp_rounds_sub_millisecond_input() {
        let t: Timestamp = serde_json::from_str("1.0006").unwrap();
        assert_eq!(t.unix_millis(), 1001);
    }

    #[test]
    fn timestamp_rejects_out_of_range_numbers() {
        assert!(serde_json::from_str::<Timestamp>("1e300").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"2026-01-01\"").is_err());
    }

    #[test]
    fn timestamp_round_trips_through_system_time() {
        for millis in [0, 1_795_317_327_066, -1500] {
            let t = Timestamp::from_unix_millis(millis);
            let system = t.to_system_time().unwrap();
            assert_eq!(Timestamp::from_system_time(system), t);
        }
    }

    #[test]
    fn timestamp_displays_as_seconds_with_millis() {
        assert_eq!(
            Timestamp::from_unix_millis(1_795_317_327_066).to_string(),
            "1795317327.066"
        );
        assert_eq!(Timestamp::from_unix_millis(-1500).to_string(), "-1.500");
    }
}
