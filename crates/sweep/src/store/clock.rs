//! Timestamps the store records.

use std::time::SystemTime;

/// The current time as RFC 3339 in UTC, to the second, e.g. `2025-01-31T12:00:00Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_seconds_in_utc() {
        let now = now_rfc3339();
        let parsed = humantime::parse_rfc3339(&now).unwrap();
        let drift = SystemTime::now().duration_since(parsed).unwrap();
        assert!(now.len() == 20 && now.ends_with('Z') && drift.as_secs() < 5, "{now}");
        // `date -u -d @1700000000` → Tue Nov 14 22:13:20 UTC 2023.
        let known = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(humantime::format_rfc3339_seconds(known).to_string(), "2023-11-14T22:13:20Z");
    }
}
