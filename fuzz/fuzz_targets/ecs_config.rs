//! `ecs.config` files and the host facts defaults come from, through `ecs_config::load` (pure and
//! documented total: it must never panic). The input is split at NUL bytes into the user file,
//! the instance file, then `ip_local_port_range`, `os-release`, `/proc/net/route` and
//! `/proc/net/ipv6_route` contents; missing parts are absent.
#![no_main]

use ecs_config::{HostFacts, SourceFile, Sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0').map(str::to_owned);
    let user = parts.next();
    let instance = parts.next();
    let host = HostFacts {
        ip_local_port_range: parts.next(),
        os_release: parts.next(),
        ipv4_routes: parts.next(),
        ipv6_routes: parts.next(),
    };
    let sources = Sources {
        user_file: user.map(|c| SourceFile::new("/etc/ecs/ecs.config", c)),
        instance_file: instance.map(|c| SourceFile::new("/var/lib/ecs/ecs.config", c)),
        env: Default::default(),
        host,
    };
    let loaded = ecs_config::load(&sources);
    let _ = loaded.to_json();
    let _ = loaded.config.validate_for_run();
    let _ = loaded.config.ipv6_only();
    for d in &loaded.diagnostics {
        let _ = d.to_json();
        let _ = d.to_string();
    }
    let _ = loaded.into_result();
});
