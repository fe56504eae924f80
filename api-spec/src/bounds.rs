//! Integers a request may carry, bounded by what the server can store.
//!
//! JSON numbers are unbounded and serde reads any of them that fits a `u64`, but the
//! databases behind the server keep integers in signed 64-bit columns (`BIGINT`, SQLite's
//! `INTEGER`): a count, offset or size above `i64::MAX` could not be bound to a query, and
//! the SQLite driver panics on one rather than failing. Every unsigned integer in a request
//! is therefore read with [`db_u64`] (or [`opt_db_u64`]), which refuses such values while
//! parsing, so they answer `invalid_field` naming the field before any action runs. Fields
//! with a tighter range of their own (a page size, a timeout) are checked by their action.
use serde::Deserialize;
use serde::de::{Deserializer, Error, Unexpected};

/// The largest integer a request field accepts: `i64::MAX`, the largest a database column
/// holds.
pub const MAX_DB_INT: u64 = i64::MAX as u64;

/// What the refusal says is expected.
const EXPECTED: &str = "an integer from 0 to 9223372036854775807";

fn bounded<E: Error>(value: u64) -> Result<u64, E> {
    if value > MAX_DB_INT {
        return Err(E::invalid_value(Unexpected::Unsigned(value), &EXPECTED));
    }
    Ok(value)
}

/// Reads a `u64` of at most [`MAX_DB_INT`]; use with `#[serde(deserialize_with)]`.
pub fn db_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    bounded(u64::deserialize(deserializer)?)
}

/// Reads an optional `u64` of at most [`MAX_DB_INT`] (`null` is `None`); use with
/// `#[serde(default, deserialize_with)]`.
pub fn opt_db_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(deserializer)?
        .map(bounded)
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "super::opt_db_u64")]
        maybe: Option<u64>,
        #[serde(default, deserialize_with = "super::db_u64")]
        plain: u64,
    }

    fn parse(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn values_a_database_column_holds_are_read() {
        let p = parse(r#"{"maybe": 9223372036854775807, "plain": 0}"#).unwrap();
        assert_eq!((p.maybe, p.plain), (Some(i64::MAX as u64), 0));
        let p = parse(r#"{"maybe": null}"#).unwrap();
        assert_eq!((p.maybe, p.plain), (None, 0));
    }

    #[test]
    fn larger_negative_fractional_and_string_values_are_refused() {
        for bad in [
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1.5",
            "\"1\"",
        ] {
            assert!(parse(&format!(r#"{{"maybe": {bad}}}"#)).is_err(), "{bad}");
            assert!(parse(&format!(r#"{{"plain": {bad}}}"#)).is_err(), "{bad}");
        }
    }
}
