//! Password hashing with argon2id at OWASP's parameters (m=19456 KiB, t=2, p=1).
//!
//! The blocking pool and breach checks arrive with the identity work; this module is
//! the one place that chooses the algorithm and its parameters.

use crate::StoreError;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use paddock_domain::FieldError;
use std::fmt;

/// A new password that met the policy; never printed.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Parses a password chosen by a person: 12 to 1024 characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars < 12 {
            return Err(FieldError::new(field, "must be at least 12 characters"));
        }
        if chars > 1024 {
            return Err(FieldError::new(field, "must be at most 1024 characters"));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

fn hasher() -> Result<Argon2<'static>, StoreError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|_| StoreError::PasswordHash)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of a new password.
pub fn hash_password(password: &NewPassword) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher()?
        .hash_password(password.0.as_bytes(), &salt)
        .map_err(|_| StoreError::PasswordHash)?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHash, PasswordVerifier};

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let password = NewPassword::parse("password", "correct horse battery staple").unwrap();
        let phc = hash_password(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse battery staple", &parsed)
                .is_err()
        );
    }

    #[test]
    fn same_password_gets_a_fresh_salt() {
        let password = NewPassword::parse("password", "correct horse battery staple").unwrap();
        assert_ne!(
            hash_password(&password).unwrap(),
            hash_password(&password).unwrap()
        );
    }

    #[test]
    fn short_passwords_are_refused_and_never_printed() {
        assert_eq!(
            NewPassword::parse("password", "short").unwrap_err().field,
            "password"
        );
        let p = NewPassword::parse("password", "a very secret value").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }
}
