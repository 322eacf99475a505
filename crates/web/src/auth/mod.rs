//! Authentication services shared by all requests (password hashing, the clock, token
//! keys, sealing, SMS). The extractors that use them live in [`crate::context`].

use paddock_crypto::KeyRing;
use paddock_domain::Clock;
use paddock_jwt::KeyStore;
use paddock_notify::SmsSender;
use paddock_passwords::PasswordHasher;
use std::sync::Arc;

/// Everything authentication needs, shared by all requests.
#[derive(Clone)]
pub struct AuthServices {
    /// Verifies and hashes passwords on the bounded pool.
    pub hasher: PasswordHasher,
    /// The time (controllable in tests).
    pub clock: Arc<dyn Clock>,
    /// JWT signing keys.
    pub keys: KeyStore,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Lifetime of access tokens (at most 15 minutes).
    pub access_ttl: chrono::Duration,
    /// Seals TOTP secrets and phone numbers, and keys the hash of one-time codes.
    pub sealing: KeyRing,
    /// Sends SMS codes.
    pub sms: Arc<dyn SmsSender>,
    /// The optional online breach check (Have I Been Pwned range API).
    pub pwned: Option<paddock_passwords::PwnedRangeClient>,
}

impl std::fmt::Debug for AuthServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServices")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys)
            .field("sealing", &self.sealing)
            .finish_non_exhaustive()
    }
}

impl AuthServices {
    /// Services with the default issuer, audience and a 15-minute token lifetime.
    pub fn new(
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        keys: KeyStore,
        sealing: KeyRing,
        sms: Arc<dyn SmsSender>,
    ) -> Self {
        Self {
            hasher,
            clock,
            keys,
            issuer: "paddock".to_owned(),
            audience: "paddock-api".to_owned(),
            access_ttl: chrono::Duration::minutes(15),
            sealing,
            sms,
            pwned: None,
        }
    }

    /// Checks a new password: the local policy (length, shipped breach list, zxcvbn)
    /// and, when configured, the online range check. If the online check is down the
    /// password is judged on the local checks alone (logged), so sign-ups never stall.
    pub async fn check_new_password(
        &self,
        field: &str,
        raw: &str,
        context: &[&str],
    ) -> Result<paddock_passwords::NewPassword, paddock_domain::FieldError> {
        let password = paddock_passwords::check_new_password(field, raw, context)?;
        if let Some(pwned) = &self.pwned {
            match pwned.breach_count(raw).await {
                Ok(0) => {}
                Ok(_) => {
                    return Err(paddock_domain::FieldError::new(
                        field,
                        "appears in a public list of breached passwords; choose another",
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "online breach check unavailable; local checks only")
                }
            }
        }
        Ok(password)
    }
}
