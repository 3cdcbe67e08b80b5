//! Canonical JSON (RFC 8785, "JCS") and SHA-256 hashing.
//!
//! Payloads are compared and hashed in their canonical form, so a replay is recognised whatever
//! the key order or number spelling of the original. Serialization follows JCS exactly,
//! including its rule for integers beyond ±(2^53−1): like every JCS implementation (and
//! JavaScript's `JSON.stringify`), such an integer is written as the nearest IEEE-754 double,
//! so `18446744073709551615` canonicalizes to `18446744073709552000`. Two integers that round to
//! the same double therefore hash alike. devflow's own payloads never hold such integers
//! (attempts, counts and epoch milliseconds stay far below 2^53); an artifact's identity is the
//! hash of its bytes (`hash_bytes`), not of its parsed value, so no artifact is affected.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The largest integer that JSON numbers (IEEE-754 doubles) represent exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The RFC 8785 canonical text of a JSON value: keys sorted by UTF-16 code units, no
/// whitespace, numbers in ECMAScript form, minimal string escaping.
pub fn canonical_json(value: &Value) -> String {
    if writes_canonically(value) {
        return value.to_string();
    }
    // A `serde_json::Value` cannot hold NaN or infinities, the only values JCS refuses.
    serde_json_canonicalizer::to_string(value).expect("a serde_json::Value always canonicalizes")
}

/// Whether serde_json's own compact text of `value` is already its JCS text: no floats and no
/// integers beyond 2^53 − 1 (JCS writes numbers as ECMAScript doubles), and object keys that
/// are ASCII and already in order (JCS sorts by UTF-16 code units, which for ASCII is byte
/// order). String escaping is the same in both: `\"`, `\\`, `\b \f \n \r \t`, other
/// control characters as lowercase `\u00xx`, everything else as it is. Every payload devflow
/// writes itself takes this path, which skips the canonicalizer's re-sorting.
fn writes_canonically(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(number) => number
            .as_i64()
            .map(i64::unsigned_abs)
            .or(number.as_u64())
            .is_some_and(|n| n <= MAX_SAFE_INTEGER),
        Value::Array(items) => items.iter().all(writes_canonically),
        Value::Object(map) => {
            let keys_in_order =
                map.keys().zip(map.keys().skip(1)).all(|(a, b)| a.as_bytes() < b.as_bytes());
            keys_in_order
                && map.keys().all(|key| key.is_ascii())
                && map.values().all(writes_canonically)
        }
    }
}

/// Lowercase hex SHA-256 of the canonical UTF-8 bytes of `value`.
pub fn hash_json(value: &Value) -> String {
    hash_bytes(canonical_json(value).as_bytes())
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest (of one computed in chunks, say), as `hash_bytes` writes it.
pub fn to_hex(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(digest.len() * 2);
    for &byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical_of_text(text: &str) -> String {
        canonical_json(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn rfc8785_section_3_2_2_serialization_example() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            canonical_of_text(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_section_3_2_3_sorts_properties_by_utf16_code_units() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = concat!(
            r#"{"\r":"Carriage Return","1":"One","#,
            "\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",",
            "\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",",
            "\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
        assert_eq!(canonical_of_text(input), expected);
    }

    #[test]
    fn rfc8785_appendix_b_number_serialization_table() {
        let table: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in table {
            let value = Value::from(f64::from_bits(*bits));
            assert_eq!(canonical_json(&value), *expected, "bits {bits:#018x}");
        }
    }

    #[test]
    fn integers_beyond_2_pow_53_follow_jcs_and_become_the_nearest_double() {
        assert_eq!(canonical_json(&json!(MAX_SAFE_INTEGER)), "9007199254740991");
        assert_eq!(canonical_json(&json!(u64::MAX)), "18446744073709552000");
        assert_eq!(canonical_json(&json!(i64::MIN)), "-9223372036854776000");
        assert_eq!(
            hash_json(&json!(9007199254740993_u64)),
            hash_json(&json!(9007199254740992_u64))
        );
    }

    #[test]
    fn serde_json_text_is_taken_only_where_it_is_the_canonical_text() {
        let values = [
            json!({"b": [1, -2, "x\u{1}\n\"\\/é€😀", null, true], "a": {"z": 0, "A": 9007199254740991_u64}}),
            json!({"é": 1, "z": 2}),
            json!({"n": 9007199254740992_u64, "f": 1.5, "e": 1e30}),
            json!([0.1, -0.0, 5e-324]),
            json!("\u{7f}\u{2028}\u{1f}"),
        ];
        for value in &values {
            let reference = serde_json_canonicalizer::to_string(value).unwrap();
            assert_eq!(canonical_json(value), reference, "{value}");
        }
        assert!(writes_canonically(&values[0]));
        assert!(!writes_canonically(&values[2]));
    }

    #[test]
    fn key_order_and_spelling_do_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"b": 1.0, "a": [1e2, "x"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[100,"x"],"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":[100,"x"],"b":1}"#);
        assert_eq!(hash_json(&a), hash_json(&b));
    }

    #[test]
    fn hash_is_lowercase_hex_sha256_of_the_canonical_bytes() {
        // sha256("{}") and sha256("") are well-known digests.
        assert_eq!(
            hash_json(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            hash_bytes(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
