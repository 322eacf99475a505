//! The one CSRF comparison. A cookie rides along with any request a browser sends, so
//! a cookie-authenticated write must also carry the session's CSRF token (in the
//! `X-CSRF-Token` header from scripts, in the `csrf_token` field of our forms), which
//! another site can neither read nor compute. The store derives and hashes the tokens
//! (`paddock_store::identity::token`); this module only compares, in constant time.

use paddock_store::identity::sessions::SessionAuth;
use paddock_store::identity::token::token_hash;
use subtle::ConstantTimeEq;

/// Whether `sent` is the session's own CSRF token (only its hash is stored).
pub fn session_token_matches(session: &SessionAuth, sent: &str) -> bool {
    token_hash(sent).ct_eq(&session.csrf_hash).into()
}

/// Whether `sent` equals `expected` (tokens derived on the fly, such as the sign-in
/// form's pre-session token), in constant time.
pub fn tokens_match(expected: &str, sent: &str) -> bool {
    expected.as_bytes().ct_eq(sent.as_bytes()).into()
}
