//! TLS to PostgreSQL: a private cluster serving TLS with a certificate from a test CA,
//! reached over TCP. With `sslmode=verify-full` and the CA as `sslrootcert`, Paddock's
//! serving connection (the application role, as `serve` connects) connects, and
//! doctor finds such a connection encrypted;
//! a server whose certificate does not name the host, or a CA that did not sign it,
//! is refused.

use crate::process::TempDir;
use paddock_store::{AdminDb, Db};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::Path;
use std::process::Command;

/// A CA (its certificate as PEM) and a server certificate and key it signed for `host`.
fn ca_and_server(host: &str) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Paddock test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    (ca_cert.pem(), server.pem(), server_key.serialize_pem())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Writes the server's certificate and key where the server (the postgres user, when
/// we are root) can read them, the key readable by its owner only.
fn server_files(dir: &Path, cert: &str, key: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[tokio::test]
async fn paddock_connects_to_postgresql_with_verify_full_and_refuses_a_certificate_that_does_not_match()
 {
    let scratch = TempDir::new("pg-tls");
    let (ca, cert, key) = ca_and_server("localhost");
    let certs = scratch.path().join("certs");
    server_files(&certs, &cert, &key);
    let ca_file = scratch.path().join("ca.crt");
    std::fs::write(&ca_file, &ca).unwrap();
    let (other_ca, _, _) = ca_and_server("localhost");
    let other_ca_file = scratch.path().join("other-ca.crt");
    std::fs::write(&other_ca_file, &other_ca).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let data = scratch.path().join("pg");
    let cert_file = certs.join("server.crt").display().to_string();
    let key_file = certs.join("server.key").display().to_string();
    let settings = [
        ("listen_addresses", "127.0.0.1"),
        ("port", port.as_str()),
        ("ssl", "on"),
        ("ssl_cert_file", cert_file.as_str()),
        ("ssl_key_file", key_file.as_str()),
    ];
    let cluster = {
        let data = data.clone();
        let settings: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let settings: Vec<(&str, &str)> = settings
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            pgcluster::Cluster::start_with(&data, &settings)
        })
        .await
        .unwrap()
        .expect("a private cluster serving TLS")
    };
    // Roles and schema, over the private socket (admin work, as migrate does it).
    let socket_url = format!("{}&port={port}", cluster.admin_url("postgres"));
    let owner = AdminDb::connect(&socket_url).await.unwrap();
    owner.migrate().await.unwrap();
    owner.close().await;
    // From here on, the application role over TCP, as `serve` connects.
    let url = |host: &str, root: &Path| {
        format!(
            "postgres://{}@{host}:{port}/postgres?sslmode=verify-full&sslrootcert={}",
            paddock_store::APP_ROLE,
            root.display()
        )
    };

    // The certificate names localhost and our CA signed it: connected, encrypted.
    let served = Db::connect(&url("localhost", &ca_file), 1)
        .await
        .expect("verify-full against the right host and CA");
    served.close().await;
    // doctor, on such a connection, finds it encrypted (it warns about one that is not).
    let doctor = AdminDb::connect(&url("localhost", &ca_file)).await.unwrap();
    let findings = paddock_store::doctor::examine(&doctor).await.unwrap();
    assert!(
        !findings
            .iter()
            .any(|f| f.message.contains("neither encrypted")),
        "{findings:?}"
    );
    doctor.close().await;

    // The same server under a name its certificate does not carry: refused.
    let wrong_name = Db::connect(&url("127.0.0.1", &ca_file), 1).await;
    assert!(
        wrong_name.is_err(),
        "a certificate for another name must be refused"
    );
    // A CA that did not sign the certificate: refused.
    let wrong_ca = Db::connect(&url("localhost", &other_ca_file), 1).await;
    assert!(wrong_ca.is_err(), "an unknown issuer must be refused");

    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}
