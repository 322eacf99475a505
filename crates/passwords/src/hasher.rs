//! argon2id hashing and verification on tokio's blocking pool, a bounded number at a
//! time.
//!
//! One argon2id computation with the OWASP parameters takes tens of milliseconds of
//! CPU and 19 MiB of memory. Run on the async workers, a burst of logins would stall
//! every other request; run unbounded on the blocking pool, it would start hundreds of
//! threads and as many 19 MiB buffers. So each hash or verification first takes a
//! permit from a semaphore sized to the cores, then runs in `spawn_blocking` holding
//! that permit until the computation ends (even if the caller stopped waiting).
//!
//! argon2's 19 MiB of working memory is kept, one block array per permit, and reused:
//! allocated afresh for each computation, glibc keeps the freed arrays in the arenas
//! of whichever blocking threads ran them (about 840 MB of resident memory under a
//! login flood), instead of giving them back.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::PasswordError;
use crate::policy::NewPassword;

/// argon2id parameters (OWASP: m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory cost in KiB (`m`).
    pub memory_kib: u32,
    /// Number of passes over memory (`t`).
    pub iterations: u32,
    /// Degree of parallelism (`p`); each hash still runs on one blocking thread.
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords on the blocking pool, at most `permits` at a time, so a login flood cannot starve the async workers.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: HashParams,
    argon2: Argon2<'static>,
    permits: usize,
    semaphore: Arc<Semaphore>,
    /// A hash of a random throw-away password with the current parameters: verified
    /// against when there is no stored hash, so unknown accounts cost the same work.
    dummy: String,
    /// argon2's working memory, at most one array per permit, reused.
    workspaces: std::sync::Mutex<Vec<Vec<Block>>>,
    #[cfg(test)]
    probe: probe::Probe,
}

impl PasswordHasher {
    /// A hasher with `params`, running at most `permits` (at least 1; usually
    /// [`PasswordHasher::default_permits`]) computations at once. Computes one hash
    /// right away (the dummy for unknown accounts), so parameters are proven valid.
    pub fn new(params: HashParams, permits: usize) -> Result<Self, PasswordError> {
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(
                params.memory_kib,
                params.iterations,
                params.parallelism,
                None,
            )
            .map_err(PasswordError::Params)?,
        );
        let throwaway = SaltString::generate(&mut rand::rngs::OsRng);
        let mut blocks = vec![Block::default(); argon2.params().block_count()];
        let dummy = hash_with(&argon2, &mut blocks, throwaway.as_str())?;
        let permits = permits.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                argon2,
                permits,
                semaphore: Arc::new(Semaphore::new(permits)),
                dummy,
                workspaces: std::sync::Mutex::new(vec![blocks]),
                #[cfg(test)]
                probe: probe::Probe::default(),
            }),
        })
    }

    /// The number of cores this process may use, at least 1: a sensible `permits`.
    pub fn default_permits() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// Hashes `password` with a fresh random salt; returns the PHC string to store.
    pub async fn hash(&self, password: &NewPassword) -> Result<String, PasswordError> {
        let password = password.clone();
        self.run_blocking(move |inner| {
            inner.with_memory(inner.argon2.params().block_count(), |blocks| {
                hash_with(&inner.argon2, blocks, password.expose())
            })
        })
        .await?
    }

    /// Verifies `candidate` against `phc`; with `None` (unknown email) it verifies against a fixed dummy hash made with the same parameters so unknown emails cost the same work, and returns false.
    ///
    /// A stored hash that cannot be parsed or used is logged as a warning and also
    /// costs one dummy verification, then counts as a mismatch (`Ok(false)`).
    pub async fn verify(&self, candidate: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
        let candidate = candidate.to_owned();
        let stored = phc.map(str::to_owned);
        self.run_blocking(move |inner| {
            let Some(stored) = stored else {
                burn_dummy(inner, &candidate);
                return false;
            };
            match verify_with(inner, &candidate, &stored) {
                Ok(matched) => matched,
                Err(error) => {
                    tracing::warn!(%error, "stored password hash is unusable; counted as a failed verification");
                    burn_dummy(inner, &candidate);
                    false
                }
            }
        })
        .await
    }

    /// Whether a stored hash uses weaker parameters than the current ones (rehash on next login).
    ///
    /// Also true for anything that is not an argon2id v19 PHC string. A hash made with
    /// parameters at least as strong in every dimension is kept.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        if hash.algorithm != argon2::ARGON2ID_IDENT || hash.version != Some(Version::V0x13.into()) {
            return true;
        }
        let Ok(stored) = Params::try_from(&hash) else {
            return true;
        };
        let current = self.inner.params;
        stored.m_cost() < current.memory_kib
            || stored.t_cost() < current.iterations
            || stored.p_cost() < current.parallelism
    }

    /// Runs `work` on the blocking pool once a permit is free, holding the permit
    /// until `work` returns.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::PoolClosed)?;
        let inner = Arc::clone(&self.inner);
        let output = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            #[cfg(test)]
            let _running = inner.probe.enter();
            work(&inner)
        })
        .await?;
        Ok(output)
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("permits", &self.inner.permits)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Runs `work` on a reused block array of at least `needed` blocks (taken from the
    /// workspaces, put back afterwards). There are at most as many arrays as permits,
    /// since each computation holds a permit; a stored hash with more memory than the
    /// current parameters grows the array it gets.
    fn with_memory<T>(&self, needed: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let taken = self
            .workspaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut blocks = taken.unwrap_or_default();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        let output = work(blocks.get_mut(..needed).unwrap_or_default());
        self.workspaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(blocks);
        output
    }

    #[cfg(test)]
    fn workspace_count(&self) -> usize {
        self.workspaces.lock().unwrap().len()
    }
}

/// One argon2id hash of `password` with a fresh salt, in `blocks`, as a PHC string.
fn hash_with(
    argon2: &Argon2<'_>,
    blocks: &mut [Block],
    password: &str,
) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut raw_salt)
        .map_err(PasswordError::Hash)?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), raw_salt, out, &mut *blocks)
            .map_err(argon2::password_hash::Error::from)
    })
    .map_err(PasswordError::Hash)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(PasswordError::Hash)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `candidate` is the password `stored` (a PHC string) was made from, computed
/// with the stored hash's own algorithm and parameters in a reused block array; the
/// comparison is constant-time (`Output`'s equality). `Err` for a string that is not
/// a usable argon2 hash.
fn verify_with(
    inner: &Inner,
    candidate: &str,
    stored: &str,
) -> Result<bool, argon2::password_hash::Error> {
    use argon2::password_hash::Error;
    let hash = PasswordHash::new(stored)?;
    let algorithm = Algorithm::try_from(hash.algorithm)?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(Error::from)?
        .unwrap_or_default();
    let params = Params::try_from(&hash)?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Err(Error::PhcStringField);
    };
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut raw_salt)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = inner.with_memory(argon2.params().block_count(), |blocks| {
        Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(candidate.as_bytes(), raw_salt, out, blocks)
                .map_err(Error::from)
        })
    })?;
    Ok(computed == expected)
}

/// Spends one verification's work against the dummy hash; the answer is always "no".
fn burn_dummy(inner: &Inner, candidate: &str) {
    let _ = verify_with(inner, candidate, &inner.dummy);
}

#[cfg(test)]
mod probe {
    //! Counts computations running at once, to prove the bound holds.
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    pub(super) struct Probe {
        pub(super) running: AtomicUsize,
        pub(super) most_at_once: AtomicUsize,
        /// Extra time each computation stays "running", so that without the bound
        /// computations would certainly overlap.
        pub(super) linger_ms: AtomicU64,
    }

    pub(super) struct Running<'a>(&'a Probe);

    impl Probe {
        pub(super) fn enter(&self) -> Running<'_> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(self.linger_ms.load(Ordering::SeqCst)));
            Running(self)
        }
    }

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_new_password;
    use std::sync::atomic::Ordering;
    use tokio::task::JoinSet;

    /// Cheap parameters so the tests run fast; the OWASP ones are tested once.
    const FAST: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn new_password(raw: &str) -> NewPassword {
        check_new_password("password", raw, &[]).unwrap()
    }

    #[tokio::test]
    async fn hash_then_verify_accepts_the_password_and_refuses_others() {
        let hasher = PasswordHasher::new(FAST, 2).unwrap();
        let phc = hasher
            .hash(&new_password("marble otter kettle sunrise"))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(
            hasher
                .verify("marble otter kettle sunrise", Some(&phc))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("marble otter kettle sunset", Some(&phc))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("", Some(&phc)).await.unwrap());
    }

    #[tokio::test]
    async fn same_password_hashes_differently_each_time() {
        let hasher = PasswordHasher::new(FAST, 1).unwrap();
        let password = new_password("marble otter kettle sunrise");
        assert_ne!(
            hasher.hash(&password).await.unwrap(),
            hasher.hash(&password).await.unwrap()
        );
    }

    #[tokio::test]
    async fn owasp_defaults_hash_and_verify() {
        let hasher = PasswordHasher::new(HashParams::default(), 1).unwrap();
        let phc = hasher
            .hash(&new_password("marble otter kettle sunrise"))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            hasher
                .verify("marble otter kettle sunrise", Some(&phc))
                .await
                .unwrap()
        );
        assert!(!hasher.needs_rehash(&phc));
    }

    #[tokio::test]
    async fn unknown_account_verifies_against_the_dummy_and_fails() {
        let hasher = PasswordHasher::new(FAST, 1).unwrap();
        assert!(
            !hasher
                .verify("marble otter kettle sunrise", None)
                .await
                .unwrap()
        );
        // The dummy is a real hash with the current parameters, so it costs the same.
        assert!(
            hasher
                .inner
                .dummy
                .starts_with("$argon2id$v=19$m=1024,t=1,p=1$")
        );
        assert!(!hasher.needs_rehash(&hasher.inner.dummy));
    }

    #[tokio::test]
    async fn malformed_stored_hash_is_a_mismatch_not_an_error() {
        let hasher = PasswordHasher::new(FAST, 1).unwrap();
        for stored in [
            "",
            "not a hash",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA",
            "$2b$12$abc",
        ] {
            assert!(
                !hasher
                    .verify("marble otter kettle sunrise", Some(stored))
                    .await
                    .unwrap()
            );
        }
    }

    #[tokio::test]
    async fn weaker_stored_hash_needs_rehash() {
        let weak = PasswordHasher::new(
            HashParams {
                memory_kib: 512,
                ..FAST
            },
            1,
        )
        .unwrap();
        let current = PasswordHasher::new(FAST, 1).unwrap();
        let stronger = PasswordHasher::new(
            HashParams {
                iterations: 3,
                ..FAST
            },
            1,
        )
        .unwrap();
        let password = new_password("marble otter kettle sunrise");

        let weak_phc = weak.hash(&password).await.unwrap();
        assert!(current.needs_rehash(&weak_phc));
        // An old hash still verifies with its own parameters until it is replaced.
        assert!(
            current
                .verify("marble otter kettle sunrise", Some(&weak_phc))
                .await
                .unwrap()
        );

        assert!(!current.needs_rehash(&current.hash(&password).await.unwrap()));
        assert!(!current.needs_rehash(&stronger.hash(&password).await.unwrap()));
        assert!(current.needs_rehash("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
        assert!(current.needs_rehash("garbage"));
    }

    #[test]
    fn invalid_parameters_are_refused_up_front() {
        let error = PasswordHasher::new(
            HashParams {
                memory_kib: 1,
                ..FAST
            },
            1,
        )
        .unwrap_err();
        assert!(matches!(error, PasswordError::Params(_)), "{error}");
    }

    #[test]
    fn zero_permits_means_one() {
        let hasher = PasswordHasher::new(FAST, 0).unwrap();
        assert_eq!(hasher.inner.semaphore.available_permits(), 1);
        assert!(PasswordHasher::default_permits() >= 1);
    }

    /// Starts `jobs` verifications at once and returns how many ran at the same time.
    async fn most_at_once(permits: usize, jobs: usize) -> usize {
        let hasher = PasswordHasher::new(FAST, permits).unwrap();
        hasher.inner.probe.linger_ms.store(40, Ordering::SeqCst);
        let phc = hasher
            .hash(&new_password("marble otter kettle sunrise"))
            .await
            .unwrap();
        hasher.inner.probe.most_at_once.store(0, Ordering::SeqCst);

        let mut set = JoinSet::new();
        for i in 0..jobs {
            let (hasher, phc) = (hasher.clone(), phc.clone());
            set.spawn(async move {
                let stored = (i % 2 == 0).then_some(phc.as_str());
                hasher
                    .verify("marble otter kettle sunrise", stored)
                    .await
                    .unwrap()
            });
        }
        let mut completed = 0;
        while let Some(result) = set.join_next().await {
            result.unwrap();
            completed += 1;
        }
        assert_eq!(completed, jobs, "every verification completes");
        assert_eq!(hasher.inner.probe.running.load(Ordering::SeqCst), 0);
        assert_eq!(hasher.inner.semaphore.available_permits(), permits);
        hasher.inner.probe.most_at_once.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn working_memory_is_reused_never_more_arrays_than_permits() {
        let hasher = PasswordHasher::new(FAST, 2).unwrap();
        let phc = hasher
            .hash(&new_password("marble otter kettle sunrise"))
            .await
            .unwrap();
        let mut set = JoinSet::new();
        for i in 0..24 {
            let (hasher, phc) = (hasher.clone(), phc.clone());
            set.spawn(async move {
                let stored = (i % 3 != 0).then_some(phc.as_str());
                let guess = if i % 2 == 0 {
                    "marble otter kettle sunrise"
                } else {
                    "wrong"
                };
                hasher.verify(guess, stored).await.unwrap()
            });
        }
        while let Some(result) = set.join_next().await {
            result.unwrap();
        }
        let arrays = hasher.inner.workspace_count();
        assert!(
            (1..=2).contains(&arrays),
            "{arrays} block arrays for 2 permits"
        );
    }

    #[tokio::test]
    async fn a_hash_made_by_the_argon2_crate_itself_still_verifies() {
        // Hashes stored before the block arrays were reused, and any standard PHC
        // string, verify the same way (and a stronger one grows the array it uses).
        use argon2::password_hash::PasswordHasher as _;
        let hasher = PasswordHasher::new(FAST, 1).unwrap();
        let stronger = Params::new(FAST.memory_kib * 2, 1, 1, None).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, stronger);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let phc = argon2
            .hash_password(b"marble otter kettle sunrise", &salt)
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify("marble otter kettle sunrise", Some(&phc))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("marble otter kettle sunset", Some(&phc))
                .await
                .unwrap()
        );
        // Ours verify with the crate's own verifier too.
        use argon2::password_hash::PasswordVerifier as _;
        let ours = hasher
            .hash(&new_password("marble otter kettle sunrise"))
            .await
            .unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"marble otter kettle sunrise", &parsed)
                .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_one_permit_never_more_than_one_computation_runs() {
        assert_eq!(most_at_once(1, 8).await, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_probe_sees_overlap_when_the_bound_allows_it() {
        // The control for the test above: with room for 4, the same load overlaps, so
        // a missing semaphore would have made that test fail.
        let seen = most_at_once(4, 8).await;
        assert!((2..=4).contains(&seen), "saw {seen} at once");
    }
}
