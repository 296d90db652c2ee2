//! Behind a reverse proxy: a real nginx, started here on loopback with a generated config and
//! a TLS certificate generated here, in front of the real server binary. Bots play over
//! wss:// through it, and with `--trusted-proxy` the per-address cap counts the client
//! address nginx reports in X-Forwarded-For, not nginx's own.
//!
//! Needs nginx (`cargo xtask test` installs Debian's `nginx-light`); without it the test is
//! skipped outside CI and fails in CI.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use common::{ServerProcess, LIMIT};
use tickwire_bots::{BotConnection, BotError, DecodeMode, Driver};
use tickwire_shared::protocol::{codec, ServerMsg};
use tickwire_tests::raw::join_bytes;

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // Our own child, by its PID (single-process mode: no workers left behind).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_certificate(dir: &Path) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tickwire test CA");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = params.signed_by(&key, &ca, &ca_key).expect("leaf cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
    std::fs::write(dir.join("cert.pem"), leaf.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_nginx(dir: &Path, upstream: SocketAddr) -> (Nginx, u16) {
    let d = dir.display();
    // The port is chosen by the kernel, then given to nginx (which cannot report one it
    // picked itself); a lost race is retried with another.
    for _ in 0..5 {
        let port = free_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/cert.pem;\n\
                 ssl_certificate_key {d}/key.pem;\n    location / {{\n\
                   proxy_pass http://{upstream};\n      proxy_http_version 1.1;\n\
                   proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection \"upgrade\";\n\
                   proxy_set_header Host $host;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_read_timeout 120s;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = nginx.0.try_wait() {
                break; // exited: most likely the port was taken meanwhile
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (nginx, port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nginx.0.kill();
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start:\n{log}");
}

/// Joins over wss:// from `source` through the proxy; `true` when welcomed.
async fn joins_from(port: u16, source: IpAddr) -> bool {
    let stream =
        tickwire_tests::raw::connect_from(SocketAddr::from(([127, 0, 0, 1], port)), source)
            .await
            .expect("tcp to nginx");
    let url = format!("wss://localhost:{port}/ws");
    let (mut ws, _) = tokio_tungstenite::client_async_tls_with_config(url, stream, None, None)
        .await
        .expect("wss handshake through nginx");
    ws.send(Message::Binary(join_bytes("direct").into()))
        .await
        .expect("join");
    let deadline = Instant::now() + LIMIT;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Binary(b) = msg {
            return matches!(codec::decode_server(&b), Ok(ServerMsg::Welcome(_)));
        }
    }
    false
}

#[test]
fn bots_play_over_wss_through_nginx_and_the_forwarded_client_is_counted() {
    let nginx_ok = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !nginx_ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx missing in CI: `cargo xtask test` installs it"
        );
        eprintln!("SKIPPED: nginx is not installed (cargo xtask test installs nginx-light)");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    write_certificate(&dir);
    // The client's root store: the generated CA (rustls-native-certs reads SSL_CERT_FILE).
    // Set before any thread exists in this test binary's only test.
    std::env::set_var("SSL_CERT_FILE", dir.join("ca.pem"));
    let _ = rustls::crypto::ring::default_provider().install_default();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server = ServerProcess::start(
            &[
                "--trusted-proxy",
                "127.0.0.1",
                "--max-connections-per-ip",
                "2",
                "--per-ip-includes-loopback",
            ],
            &[],
        )
        .await;
        let (_nginx, port) = start_nginx(&dir, server.addr);
        let url = format!("wss://localhost:{port}/ws");

        // Two bots play through the proxy and see each other move.
        let a = Driver::spawn(
            BotConnection::connect(&url, "a", DecodeMode::Full)
                .await
                .expect("a joins over wss"),
        );
        let b = Driver::spawn(
            BotConnection::connect(&url, "b", DecodeMode::Full)
                .await
                .expect("b joins over wss"),
        );
        a.set(tickwire_bots::Intent {
            move_x: 1.0,
            ..Default::default()
        });
        let ida = a.view(|v| v.me());
        tickwire_tests::wait_for("b sees a through the proxy", LIMIT, || async {
            b.view(|v| v.snapshots >= 30 && v.get(ida).is_some())
        })
        .await;

        // Both came from 127.0.0.1 as nginx reports it: that address is now at its cap of
        // 2, although every TCP connection the server sees comes from nginx itself.
        match BotConnection::connect(&url, "c", DecodeMode::Full).await {
            Err(BotError::Disconnected(_, Some((code, _)))) => assert_eq!(code, 1013),
            Err(e) => panic!("expected 1013, got {e}"),
            Ok(_) => panic!("a third connection from 127.0.0.1 was admitted"),
        }
        // Another client address behind the same proxy is admitted.
        assert!(joins_from(port, "127.0.0.5".parse().expect("ip")).await);

        for d in [a, b] {
            let v = d.stop().await;
            let e = v.ended.expect("stopped");
            assert_eq!(e.error, "stopped", "{e:?}");
            assert!(!e.desync);
        }
        assert!(
            server.log().contains("client=127.0.0.5") || server.log().contains("127.0.0.5"),
            "the server logs the forwarded client address"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
