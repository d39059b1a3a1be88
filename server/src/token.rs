//! Random secrets: the admin token when the operator gives none, and each new identity's
//! token. One function, so both are equally strong: 128 bits from `rand`'s thread-local
//! generator (a CSPRNG seeded from the operating system), written as hex.

use rand::Rng;

/// A fresh random token: 128 bits, as 32 lowercase hex digits.
pub fn random() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    /// Tokens are 32 lowercase hex digits and do not repeat.
    #[test]
    fn tokens_are_128_bit_hex_and_fresh() {
        let (a, b) = (super::random(), super::random());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), "{a}");
        assert_ne!(a, b);
    }
}
