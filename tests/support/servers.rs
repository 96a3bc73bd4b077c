//! Real cache servers for the remote-cache tests, started once per test binary on free
//! loopback ports: nginx with WebDAV (a Bazel HTTP cache: `GET`/`PUT`/`HEAD` of files), and
//! SeaweedFS (`weed mini`, real S3 with SigV4 checks). A watchdog shell kills each server
//! when the test process is gone. `.ci/prepare` installs both; a missing one fails the test.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The S3 identity SeaweedFS is started with.
pub const S3_KEY: &str = "rtaskkey";
pub const S3_SECRET: &str = "rtasksecret";
pub const S3_BUCKET: &str = "rtask";

/// The user and password of nginx's `/locked/` location.
pub const HTTP_USER: &str = "cacheuser";
pub const HTTP_PASSWORD: &str = "pw-never-printed-71";

pub struct Nginx {
    pub port: u16,
    /// What nginx serves: `open/…` and `locked/…` below it.
    pub data: PathBuf,
    _processes: Processes,
}

pub struct Weed {
    pub port: u16,
    _processes: Processes,
}

/// A server and its watchdog: they live as long as the test process.
struct Processes {
    _server: Child,
    _watchdog: Child,
}

impl Nginx {
    /// The URL of a fresh prefix of the open location.
    pub fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/open/{prefix}", self.port)
    }

    /// Where a prefix of the open location keeps its files.
    pub fn dir(&self, prefix: &str) -> PathBuf {
        self.data.join("open").join(prefix)
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kill `server` once this test process has exited.
fn watched(server: Child) -> Processes {
    let pid = server.id();
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null; sleep 2; kill -9 {pid} 2>/dev/null",
        parent = std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Processes {
        _server: server,
        _watchdog: watchdog,
    }
}

#[track_caller]
fn require(program: &str) -> PathBuf {
    let tool = super::tools().join(program);
    tool.is_file()
        .then_some(tool)
        .or_else(|| which::which(program).ok())
        .or_else(|| {
            ["/usr/sbin", "/sbin"]
                .map(|dir| Path::new(dir).join(program))
                .into_iter()
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!("`{program}` is missing: run `bash .ci/prepare` first (it installs the cache servers)")
        })
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn nginx() -> &'static Nginx {
    static NGINX: OnceLock<Nginx> = OnceLock::new();
    NGINX.get_or_init(start_nginx)
}

fn start_nginx() -> Nginx {
    let nginx = require("nginx");
    let module = Path::new("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so");
    assert!(
        module.is_file(),
        "libnginx-mod-http-dav-ext is missing: run `bash .ci/prepare` first"
    );
    let prefix = tempfile::Builder::new()
        .prefix("rtask-nginx")
        .tempdir()
        .unwrap()
        .keep();
    for dir in ["data/open", "data/locked", "tmp", "logs"] {
        fs::create_dir_all(prefix.join(dir)).unwrap();
    }
    fs::write(
        prefix.join("htpasswd"),
        format!("{HTTP_USER}:{{PLAIN}}{HTTP_PASSWORD}\n"),
    )
    .unwrap();
    let port = free_port();
    let user = if is_root() { "user root;" } else { "" };
    let dav = "root data; dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS; \
               create_full_put_path on; dav_access user:rw group:r all:r;";
    let config = format!(
        "load_module {module};
daemon off; master_process off; {user} worker_processes 1; pid nginx.pid; error_log logs/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log logs/access.log;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;
  server {{
    listen 127.0.0.1:{port}; client_max_body_size 0;
    location /open/ {{ {dav} }}
    location /locked/ {{ auth_basic \"rtask\"; auth_basic_user_file htpasswd; {dav} }}
  }}
}}
",
        module = module.display()
    );
    fs::write(prefix.join("nginx.conf"), config).unwrap();
    let child = Command::new(nginx)
        .args(["-e", "stderr", "-p"])
        .arg(&prefix)
        .args(["-c", "nginx.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(prefix.join("logs/stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let processes = watched(child);
    wait_until("nginx", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    Nginx {
        port,
        data: prefix.join("data"),
        _processes: processes,
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

pub fn weed() -> &'static Weed {
    static WEED: OnceLock<Weed> = OnceLock::new();
    WEED.get_or_init(start_weed)
}

fn start_weed() -> Weed {
    let weed = require("weed");
    let dir = tempfile::Builder::new()
        .prefix("rtask-weed")
        .tempdir()
        .unwrap()
        .keep();
    let port = free_port();
    let mut command = Command::new(weed);
    command
        .arg("mini")
        .arg(format!("-dir={}", dir.display()))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
        ])
        .arg(format!("-bucket={S3_BUCKET}"))
        .arg(format!("-s3.port={port}"));
    for flag in [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
        "metricsPort",
    ] {
        command.arg(format!("-{flag}={}", free_port()));
    }
    let child = command
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("weed.log")).unwrap())
        .stderr(fs::File::create(dir.join("weed.err")).unwrap())
        .spawn()
        .unwrap();
    let processes = watched(child);
    // The S3 port answers before the bucket exists: wait for a signed HEAD of the bucket.
    let curl = require("curl");
    wait_until("SeaweedFS", || {
        Command::new(&curl)
            .args([
                "-sf",
                "-o",
                "/dev/null",
                "-I",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
            ])
            .arg("-u")
            .arg(format!("{S3_KEY}:{S3_SECRET}"))
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            .arg(format!("http://127.0.0.1:{port}/{S3_BUCKET}"))
            .status()
            .is_ok_and(|status| status.success())
    });
    Weed {
        port,
        _processes: processes,
    }
}
