//! hyper and rustls on zcnet, end to end: `zcnet-hyper` behind net_tap in
//! a namespace, fetched by curl over HTTP and HTTPS (a certificate made by
//! openssl at run time), and `zcnet-hyper --get` as hyper's client fetching
//! a file from a kernel HTTP server (Python's http.server) in the
//! namespace. All traffic stays inside the namespace (see `common`).

mod common;

use common::{assert_clean_exit, assert_success, random_file, sha256, App, Netns, TempDir, KERNEL_IP, STACK_IP};
use std::process::Command;
use std::time::Duration;

const HYPER: &str = env!("CARGO_BIN_EXE_zcnet-hyper");

/// A www/ directory in `dir` with `big.bin` of `len` random bytes.
fn site_with_file(dir: &TempDir, len: usize) -> std::path::PathBuf {
    let root = dir.path().join("www");
    std::fs::create_dir(&root).expect("mkdir www");
    random_file(&root.join("big.bin"), len);
    root
}

#[test]
fn hyper_serves_the_fixed_body_files_and_404_on_one_kept_alive_connection() {
    let ns = Netns::new();
    let dir = TempDir::new();
    let root = site_with_file(&dir, 1 << 20);
    let fetched = dir.path().join("fetched.bin");
    let app = App::start(&ns, HYPER, &["--port", "80", "--root", root.to_str().expect("utf-8 path")]);
    // Three requests in one curl run: curl reuses the connection (keep-alive).
    let base = format!("http://{STACK_IP}");
    let out = ns.run(
        "curl",
        &[
            "-sS",
            "-v",
            "--max-time",
            "20",
            "-w",
            "%{http_code}\n",
            // curl pairs each -o with the next URL in order: the file goes there.
            "-o",
            fetched.to_str().expect("utf-8 path"),
            &format!("{base}/big.bin"),
            &format!("{base}/"),
            &format!("{base}/missing"),
        ],
        Duration::from_secs(25),
    );
    assert_success(&out, "curl");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "200\nHello, zcnet\n200\nno such path\n404\n");
    assert!(stderr.matches("Re-using existing connection").count() >= 2, "connection not kept alive:\n{stderr}");
    assert_eq!(sha256(&fetched), sha256(&root.join("big.bin")), "sha256 of the fetched body");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
}

#[test]
fn https_with_curl_gets_200_and_a_4_mib_file_intact() {
    let ns = Netns::new();
    let dir = TempDir::new();
    let root = site_with_file(&dir, 4 << 20);
    let (cert, key, fetched) = (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("got.bin"));
    // A self-signed certificate for the stack's address, made now.
    let out = common::run_bounded(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args([
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=zcnet-test",
                "-addext",
                &format!("subjectAltName=IP:{STACK_IP}"),
                "-keyout",
                key.to_str().expect("utf-8 path"),
                "-out",
                cert.to_str().expect("utf-8 path"),
            ]),
        Duration::from_secs(20),
    );
    assert_success(&out, "openssl req");
    let app = App::start(
        &ns,
        HYPER,
        &[
            "--port",
            "443",
            "--root",
            root.to_str().expect("utf-8 path"),
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ],
    );
    let base = format!("https://{STACK_IP}");
    let cacert = cert.to_str().expect("utf-8 path");
    let out = ns.run(
        "curl",
        &["-sS", "--max-time", "10", "--cacert", cacert, "-w", "\n%{http_code}", &format!("{base}/")],
        Duration::from_secs(15),
    );
    assert_success(&out, "curl https /");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, zcnet\n\n200");
    let out = ns.run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--max-time",
            "25",
            "--cacert",
            cacert,
            "-o",
            fetched.to_str().expect("utf-8 path"),
            &format!("{base}/big.bin"),
        ],
        Duration::from_secs(30),
    );
    assert_success(&out, "curl https of 4 MiB");
    assert_eq!(std::fs::metadata(&fetched).map(|m| m.len()).unwrap_or(0), 4 << 20, "fetched length");
    assert_eq!(sha256(&fetched), sha256(&root.join("big.bin")), "sha256 of the fetched body");
    // Without the CA, curl refuses the certificate: TLS is really in the way.
    let out = ns.run("curl", &["-sS", "--max-time", "10", &format!("{base}/")], Duration::from_secs(15));
    assert!(!out.status.success(), "curl trusted a self-signed certificate it was not given");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
}

#[test]
fn hyper_client_on_zcnet_fetches_a_file_from_a_kernel_server() {
    let ns = Netns::new();
    let dir = TempDir::new();
    let root = site_with_file(&dir, 1 << 20);
    let fetched = dir.path().join("fetched.bin");
    let mut server = ns.spawn_python(&format!(
        r#"
import functools, http.server, threading
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory={root:?})
srv = http.server.ThreadingHTTPServer(("0.0.0.0", 8080), handler)
threading.Timer(90, srv.shutdown).start()
print("listening", flush=True)
srv.serve_forever()
"#,
        root = root.to_str().expect("utf-8 path")
    ));
    server.wait_for_line(Duration::from_secs(10), |l| l == "listening");
    let url = format!("http://{KERNEL_IP}:8080/big.bin");
    let args = ["--get", &url, "--out", fetched.to_str().expect("utf-8 path")];
    let (status, stdout, stderr) = App::spawn(&ns, HYPER, &args).wait(Duration::from_secs(40));
    assert!(stdout.contains("status 200, 1048576 bytes"), "exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_clean_exit(status, &stdout, &stderr);
    assert_eq!(sha256(&fetched), sha256(&root.join("big.bin")), "sha256 of the fetched body");
}
