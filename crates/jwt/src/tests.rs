use std::fs;
use std::os::unix::fs::PermissionsExt;

use paddock_keyfiles::kid_time;

use super::*;

const ISS: &str = "https://paddock.test";
const AUD: &str = "paddock-api";
const T0: i64 = 1_750_000_000;

/// A temporary directory with a random name, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("paddock-jwt-{}", Uuid::new_v4()));
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn claims_at(now: i64, ttl_secs: i64) -> AccessClaims {
    access_claims(
        ISS,
        AUD,
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        DateTime::from_timestamp(now, 0).unwrap(),
        TimeDelta::seconds(ttl_secs),
    )
}

/// The key files in `dir`, oldest first.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let files = paddock_keyfiles::list_key_files(dir, KEY_FILE_SUFFIX).unwrap();
    files.into_iter().map(|f| f.path).collect()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn signed_token_verifies_and_round_trips_claims() {
    let store = KeyStore::ephemeral().unwrap();
    let claims = claims_at(T0, 300);
    let token = store.sign(&claims).unwrap();

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(store.current_kid()));
    assert_eq!(store.verify(&token, ISS, AUD, T0 + 1).unwrap(), claims);
}

#[test]
fn old_tokens_still_verify_after_rotation_and_new_tokens_use_the_new_kid() {
    let dir = TempDir::new();
    let (old, generated) = KeyStore::load_or_generate(&dir.0).unwrap();
    assert!(generated);
    let old_token = old.sign(&claims_at(T0, 300)).unwrap();

    let new = KeyStore::rotate(&dir.0).unwrap();
    assert!(new.current_kid() > old.current_kid(), "{new:?} vs {old:?}");
    assert_eq!(key_files(&dir.0).len(), 2);

    assert!(new.verify(&old_token, ISS, AUD, T0).is_ok());
    let new_token = new.sign(&claims_at(T0, 300)).unwrap();
    let kid = jsonwebtoken::decode_header(&new_token).unwrap().kid;
    assert_eq!(kid.as_deref(), Some(new.current_kid()));
    assert!(new.verify(&new_token, ISS, AUD, T0).is_ok());
    // The old store does not know the new key.
    assert!(matches!(
        old.verify(&new_token, ISS, AUD, T0),
        Err(JwtError::UnknownKey)
    ));
}

#[test]
fn tampered_payload_or_signature_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let claims = claims_at(T0, 300);
    let token = store.sign(&claims).unwrap();
    let p = parts(&token);

    let mut forged = claims.clone();
    forged.pid = Uuid::new_v4();
    let payload = b64(&serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{payload}.{}", p[0], p[2]);
    assert!(matches!(
        store.verify(&tampered, ISS, AUD, T0),
        Err(JwtError::InvalidSignature)
    ));

    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
    sig[0] ^= 1;
    let tampered = format!("{}.{}.{}", p[0], p[1], b64(&sig));
    assert!(matches!(
        store.verify(&tampered, ISS, AUD, T0),
        Err(JwtError::InvalidSignature)
    ));
    assert!(store.verify(&token, ISS, AUD, T0).is_ok());
}

#[test]
fn wrong_audience_or_issuer_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store.sign(&claims_at(T0, 300)).unwrap();
    assert!(matches!(
        store.verify(&token, ISS, "other-api", T0),
        Err(JwtError::InvalidAudience)
    ));
    assert!(matches!(
        store.verify(&token, "https://evil.test", AUD, T0),
        Err(JwtError::InvalidIssuer)
    ));
}

#[test]
fn expired_token_is_refused_against_the_callers_clock() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store.sign(&claims_at(T0, 300)).unwrap();
    let exp = T0 + 300;
    assert!(store.verify(&token, ISS, AUD, exp - 1).is_ok());
    assert!(
        store
            .verify(&token, ISS, AUD, exp + CLOCK_SKEW_LEEWAY_SECONDS - 1)
            .is_ok()
    );
    assert!(matches!(
        store.verify(&token, ISS, AUD, exp + CLOCK_SKEW_LEEWAY_SECONDS),
        Err(JwtError::Expired)
    ));
    assert!(matches!(
        store.verify(&token, ISS, AUD, exp + 3600),
        Err(JwtError::Expired)
    ));
}

#[test]
fn token_issued_in_the_future_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store.sign(&claims_at(T0, 300)).unwrap();
    assert!(
        store
            .verify(&token, ISS, AUD, T0 - CLOCK_SKEW_LEEWAY_SECONDS)
            .is_ok()
    );
    assert!(matches!(
        store.verify(&token, ISS, AUD, T0 - CLOCK_SKEW_LEEWAY_SECONDS - 1),
        Err(JwtError::IssuedInFuture)
    ));
}

#[test]
fn alg_none_and_hs256_tokens_are_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let claims = claims_at(T0, 300);
    let payload = b64(&serde_json::to_vec(&claims).unwrap());
    let kid = store.current_kid();

    let none_header = b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes());
    let none_token = format!("{none_header}.{payload}.");
    let err = store.verify(&none_token, ISS, AUD, T0).unwrap_err();
    assert!(
        matches!(err, JwtError::Malformed | JwtError::UnsupportedAlgorithm),
        "{err:?}"
    );

    // Key confusion: HMAC keyed with the public key everybody can read from the JWKS.
    let x = store.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    let public = URL_SAFE_NO_PAD.decode(&x).unwrap();
    let hs_header = b64(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes());
    let signing_input = format!("{hs_header}.{payload}");
    let hkey = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public);
    let tag = aws_lc_rs::hmac::sign(&hkey, signing_input.as_bytes());
    let hs_token = format!("{signing_input}.{}", b64(tag.as_ref()));
    assert!(matches!(
        store.verify(&hs_token, ISS, AUD, T0),
        Err(JwtError::UnsupportedAlgorithm)
    ));
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let other = KeyStore::ephemeral().unwrap();
    let foreign = other.sign(&claims_at(T0, 300)).unwrap();
    assert!(matches!(
        store.verify(&foreign, ISS, AUD, T0),
        Err(JwtError::UnknownKey)
    ));

    // Same payload and signature, header without a kid.
    let p = parts(&store.sign(&claims_at(T0, 300)).unwrap());
    let header = b64(br#"{"alg":"EdDSA","typ":"at+jwt"}"#);
    let token = format!("{header}.{}.{}", p[1], p[2]);
    assert!(matches!(
        store.verify(&token, ISS, AUD, T0),
        Err(JwtError::UnknownKey)
    ));
}

#[test]
fn token_without_access_token_type_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let key = store.keys.last().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims_at(T0, 300), &key.encoding).unwrap();
    assert!(matches!(
        store.verify(&token, ISS, AUD, T0),
        Err(JwtError::WrongType)
    ));
}

#[test]
fn ttl_is_capped_at_fifteen_minutes_and_longer_lifetimes_are_refused() {
    let claims = claims_at(T0, 3600);
    assert_eq!(claims.iat, T0);
    assert_eq!(claims.exp, T0 + MAX_ACCESS_TTL_SECONDS);
    assert_eq!(claims_at(T0, 60).exp, T0 + 60);

    // A token minted outside access_claims with a longer lifetime is refused.
    let store = KeyStore::ephemeral().unwrap();
    let mut long = claims;
    long.exp = long.iat + MAX_ACCESS_TTL_SECONDS + 1;
    let token = store.sign(&long).unwrap();
    assert!(matches!(
        store.verify(&token, ISS, AUD, T0),
        Err(JwtError::InvalidLifetime)
    ));
}

#[test]
fn jwks_lists_every_key_with_its_public_x() {
    let dir = TempDir::new();
    let (old, _) = KeyStore::load_or_generate(&dir.0).unwrap();
    let new = KeyStore::rotate(&dir.0).unwrap();
    let jwks = new.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);

    for (store, token) in [&old, &new].map(|s| (s, s.sign(&claims_at(T0, 300)).unwrap())) {
        let jwk = keys
            .iter()
            .find(|k| k["kid"] == store.current_kid())
            .unwrap();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.set_audience(&[AUD]);
        let decoded = jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation);
        assert!(decoded.is_ok(), "{decoded:?}");
    }
    // The other key's x must not verify it.
    let token = old.sign(&claims_at(T0, 300)).unwrap();
    let wrong = keys.iter().find(|k| k["kid"] == new.current_kid()).unwrap();
    let key = DecodingKey::from_ed_components(wrong["x"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_audience(&[AUD]);
    assert!(jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation).is_err());
}

#[test]
fn empty_dir_generates_one_owner_only_key_which_the_next_load_reuses() {
    let dir = TempDir::new();
    let keys = dir.0.join("keys");
    let (first, generated) = KeyStore::load_or_generate(&keys).unwrap();
    assert!(generated);
    assert_eq!(
        fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let files = key_files(&keys);
    assert_eq!(files.len(), 1);
    assert_eq!(fs::read_dir(&keys).unwrap().count(), 1, "no temp file left");
    let file = &files[0];
    assert_eq!(
        fs::metadata(file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        file.file_name().unwrap().to_str().unwrap(),
        format!("{}.ed25519.pk8", first.current_kid())
    );
    assert!(kid_time(first.current_kid()).is_some());

    let (second, generated) = KeyStore::load_or_generate(&keys).unwrap();
    assert!(!generated);
    assert_eq!(second.current_kid(), first.current_kid());
    let token = first.sign(&claims_at(T0, 300)).unwrap();
    assert!(second.verify(&token, ISS, AUD, T0).is_ok());
}

#[test]
fn group_or_world_readable_key_file_is_refused() {
    let dir = TempDir::new();
    KeyStore::load_or_generate(&dir.0).unwrap();
    let file = key_files(&dir.0).remove(0);
    for mode in [0o644, 0o640, 0o604] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        let err = KeyStore::load_or_generate(&dir.0).unwrap_err();
        assert!(
            matches!(err, JwtError::KeyFile(KeyFileError::InsecureKeyFile { mode: m, .. }) if m == mode),
            "{err:?}"
        );
        assert!(err.to_string().contains("group or others"));
        assert!(KeyStore::rotate(&dir.0).is_err());
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(KeyStore::load_or_generate(&dir.0).is_ok());
}

#[test]
fn new_kids_sort_after_the_newest_even_within_one_second() {
    let future = "k20990101000000-ffffff";
    let kid = new_kid(Some(future));
    assert!(kid.starts_with("k20990101000001-"), "{kid}");
    assert!(kid_time(&kid).is_some());

    let dir = TempDir::new();
    let (mut store, _) = KeyStore::load_or_generate(&dir.0).unwrap();
    for _ in 0..5 {
        let next = KeyStore::rotate(&dir.0).unwrap();
        assert!(next.current_kid() > store.current_kid());
        store = next;
    }
    assert_eq!(store.jwks()["keys"].as_array().unwrap().len(), 6);
}

#[test]
fn world_writable_key_dir_is_refused() {
    let dir = TempDir::new();
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        KeyStore::load_or_generate(&dir.0),
        Err(JwtError::KeyFile(KeyFileError::InsecureKeyDir { .. }))
    ));
}

#[test]
fn debug_and_errors_never_show_key_material() {
    let dir = TempDir::new();
    let (store, _) = KeyStore::load_or_generate(&dir.0).unwrap();
    let der = fs::read(key_files(&dir.0).remove(0)).unwrap();
    let debug = format!("{store:?}");
    assert!(debug.contains(store.current_kid()));
    for secret in [b64(&der), format!("{der:?}"), format!("{:?}", &der[16..48])] {
        assert!(!debug.contains(&secret));
    }
    let token = store.sign(&claims_at(T0, 300)).unwrap();
    let err = store.verify(&token, ISS, AUD, T0 + 3600).unwrap_err();
    assert!(!err.to_string().contains(&token[..20]));
}

const STATEMENT_TYPE: &str = "paddock-test-statement+jwt";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Statement {
    issued_at: String,
    heads: Vec<(String, i64)>,
}

fn statement() -> Statement {
    Statement {
        issued_at: "2026-01-01T00:00:00Z".to_owned(),
        heads: vec![("practice-a".to_owned(), 17), ("practice-b".to_owned(), 4)],
    }
}

#[test]
fn signed_statement_verifies_round_trips_and_carries_its_type_and_kid() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store.sign_statement(STATEMENT_TYPE, &statement()).unwrap();

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some(STATEMENT_TYPE));
    assert_eq!(header.kid.as_deref(), Some(store.current_kid()));
    let back: Statement = store.verify_statement(&token, STATEMENT_TYPE).unwrap();
    assert_eq!(back, statement());

    // Standard JOSE tools can check it with the published key alone.
    let jwks = store.jwks();
    let key = DecodingKey::from_ed_components(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let decoded = jsonwebtoken::decode::<Statement>(&token, &key, &validation).unwrap();
    assert_eq!(decoded.claims, statement());
}

#[test]
fn tampered_statement_payload_or_signature_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store.sign_statement(STATEMENT_TYPE, &statement()).unwrap();
    let p = parts(&token);

    let mut forged = statement();
    forged.heads[0].1 = 16;
    let payload = b64(&serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{payload}.{}", p[0], p[2]);
    assert!(matches!(
        store.verify_statement::<Statement>(&tampered, STATEMENT_TYPE),
        Err(JwtError::InvalidSignature)
    ));

    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
    sig[10] ^= 0x40;
    let tampered = format!("{}.{}.{}", p[0], p[1], b64(&sig));
    assert!(matches!(
        store.verify_statement::<Statement>(&tampered, STATEMENT_TYPE),
        Err(JwtError::InvalidSignature)
    ));

    // A header edited to another kid of the same store still has to match the signature.
    let rotated = TempDir::new();
    KeyStore::load_or_generate(&rotated.0).unwrap();
    let both = KeyStore::rotate(&rotated.0).unwrap();
    let old_kid = both.keys[0].kid.clone();
    let signed = both.sign_statement(STATEMENT_TYPE, &statement()).unwrap();
    let p = parts(&signed);
    let header =
        b64(format!(r#"{{"alg":"EdDSA","typ":"{STATEMENT_TYPE}","kid":"{old_kid}"}}"#).as_bytes());
    let swapped = format!("{header}.{}.{}", p[1], p[2]);
    assert!(matches!(
        both.verify_statement::<Statement>(&swapped, STATEMENT_TYPE),
        Err(JwtError::InvalidSignature)
    ));
    assert!(
        store
            .verify_statement::<Statement>(&token, STATEMENT_TYPE)
            .is_ok()
    );
}

#[test]
fn statement_of_another_type_or_an_access_token_is_refused_and_vice_versa() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store.sign_statement(STATEMENT_TYPE, &statement()).unwrap();
    assert!(matches!(
        store.verify_statement::<Statement>(&token, "paddock-other+jwt"),
        Err(JwtError::WrongType)
    ));
    // The `application/` prefix and case do not matter (RFC 7515 section 4.1.9).
    let key = store.keys.last().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    header.typ = Some(format!("Application/{}", STATEMENT_TYPE.to_uppercase()));
    let prefixed = jsonwebtoken::encode(&header, &statement(), &key.encoding).unwrap();
    assert!(
        store
            .verify_statement::<Statement>(&prefixed, STATEMENT_TYPE)
            .is_ok()
    );
    // No typ at all.
    header.typ = None;
    let untyped = jsonwebtoken::encode(&header, &statement(), &key.encoding).unwrap();
    assert!(matches!(
        store.verify_statement::<Statement>(&untyped, STATEMENT_TYPE),
        Err(JwtError::WrongType)
    ));

    // A statement never passes for an access token, nor an access token for a statement.
    let claims = claims_at(T0, 300);
    let as_statement = store.sign_statement(STATEMENT_TYPE, &claims).unwrap();
    assert!(matches!(
        store.verify(&as_statement, ISS, AUD, T0),
        Err(JwtError::WrongType)
    ));
    let access = store.sign(&claims).unwrap();
    assert!(matches!(
        store.verify_statement::<AccessClaims>(&access, STATEMENT_TYPE),
        Err(JwtError::WrongType)
    ));
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", ""] {
        assert!(
            matches!(store.sign_statement(typ, &claims), Err(JwtError::WrongType)),
            "{typ}"
        );
    }
    assert!(matches!(
        store.verify_statement::<AccessClaims>(&access, ACCESS_TOKEN_TYPE),
        Err(JwtError::WrongType)
    ));
}

#[test]
fn statement_signed_by_an_unknown_or_missing_kid_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let other = KeyStore::ephemeral().unwrap();
    let foreign = other.sign_statement(STATEMENT_TYPE, &statement()).unwrap();
    assert!(matches!(
        store.verify_statement::<Statement>(&foreign, STATEMENT_TYPE),
        Err(JwtError::UnknownKey)
    ));

    let p = parts(&store.sign_statement(STATEMENT_TYPE, &statement()).unwrap());
    let header = b64(format!(r#"{{"alg":"EdDSA","typ":"{STATEMENT_TYPE}"}}"#).as_bytes());
    let token = format!("{header}.{}.{}", p[1], p[2]);
    assert!(matches!(
        store.verify_statement::<Statement>(&token, STATEMENT_TYPE),
        Err(JwtError::UnknownKey)
    ));
}

#[test]
fn statement_with_another_shape_or_algorithm_is_refused() {
    let store = KeyStore::ephemeral().unwrap();
    let token = store
        .sign_statement(STATEMENT_TYPE, &serde_json::json!({"issued_at": 5}))
        .unwrap();
    assert!(matches!(
        store.verify_statement::<Statement>(&token, STATEMENT_TYPE),
        Err(JwtError::InvalidClaims)
    ));

    let payload = b64(&serde_json::to_vec(&statement()).unwrap());
    let kid = store.current_kid();
    let none =
        b64(format!(r#"{{"alg":"none","typ":"{STATEMENT_TYPE}","kid":"{kid}"}}"#).as_bytes());
    let err = store
        .verify_statement::<Statement>(&format!("{none}.{payload}."), STATEMENT_TYPE)
        .unwrap_err();
    assert!(
        matches!(err, JwtError::Malformed | JwtError::UnsupportedAlgorithm),
        "{err:?}"
    );
    assert!(matches!(
        store.verify_statement::<Statement>("not a token", STATEMENT_TYPE),
        Err(JwtError::Malformed)
    ));
}

#[test]
fn load_refuses_a_missing_or_empty_key_dir_and_creates_nothing() {
    let dir = TempDir::new();
    let missing = dir.0.join("audit");
    assert!(matches!(
        KeyStore::load(&missing),
        Err(JwtError::NoKeys { .. })
    ));
    assert!(!missing.exists(), "load must not create the directory");

    fs::create_dir(&missing).unwrap();
    fs::set_permissions(&missing, fs::Permissions::from_mode(0o700)).unwrap();
    let err = KeyStore::load(&missing).unwrap_err();
    assert!(matches!(err, JwtError::NoKeys { .. }), "{err:?}");
    assert!(!err.is_rejection());
    assert!(
        key_files(&missing).is_empty(),
        "load must not generate a key"
    );

    let (generated, _) = KeyStore::load_or_generate(&missing).unwrap();
    let loaded = KeyStore::load(&missing).unwrap();
    assert_eq!(loaded.current_kid(), generated.current_kid());
    let token = generated
        .sign_statement(STATEMENT_TYPE, &statement())
        .unwrap();
    assert!(
        loaded
            .verify_statement::<Statement>(&token, STATEMENT_TYPE)
            .is_ok()
    );
}
