//! Unit tests of docker_host.rs's pure parts: the container request, the boot script, the tar
//! archive, `/proc/cgroups` parsing.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::*;

fn spec() -> LaunchSpec {
    LaunchSpec {
        instance_id: "i-0123456789abcdef0".into(),
        image: "localhost/ecs-agent-rs/instance:abc".into(),
        network: "vpc-1".into(),
        private_ip: Ipv4Addr::new(10, 9, 0, 5),
        hostname: "ip-10-9-0-5.ec2.internal".into(),
        nano_cpus: 2_000_000_000,
        memory_bytes: 1 << 30,
        user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
        files: vec![InstanceFile {
            path: "/etc/systemd/system/ecs.service.d/test.conf".into(),
            contents: b"[Service]\n".to_vec(),
            mode: 0o644,
        }],
        imds: "10.9.0.1:8111".parse().unwrap(),
        extra_hosts: vec![("cp.internal".into(), Ipv4Addr::new(10, 9, 0, 1))],
        labels: BTreeMap::from([("run".into(), "r1".into())]),
    }
}

#[test]
fn the_container_gets_fleet_md_settings_and_never_privileged() {
    let body = container_body(&spec(), "ec2-i-0-docker", labels_for(&spec().labels, "i-0"));
    let hc = body.host_config.clone().unwrap();
    assert_eq!(hc.privileged, None);
    assert_eq!(hc.cap_add, Some(vec!["ALL".to_string()]));
    assert_eq!(hc.cap_drop, Some(vec!["SYS_RESOURCE".to_string()]));
    let sec = hc.security_opt.unwrap();
    for opt in ["seccomp=unconfined", "apparmor=unconfined"] {
        assert!(sec.iter().any(|s| s == opt), "{opt} missing from {sec:?}");
    }
    // systempaths=unconfined, as the API spells it.
    assert_eq!(hc.masked_paths, Some(vec![]));
    assert_eq!(hc.readonly_paths, Some(vec![]));
    assert_eq!(hc.device_cgroup_rules, Some(vec!["a *:* rwm".to_string()]));
    assert_eq!(
        hc.devices.unwrap()[0].path_on_host.as_deref(),
        Some("/dev/fuse")
    );
    let tmpfs = hc.tmpfs.unwrap();
    for path in ["/run", "/run/lock", "/tmp"] {
        assert!(tmpfs.contains_key(path), "{path} is not a tmpfs");
    }
    let mount = &hc.mounts.unwrap()[0];
    assert_eq!(mount.target.as_deref(), Some("/var/lib/docker"));
    assert_eq!(mount.source.as_deref(), Some("ec2-i-0-docker"));
    assert_eq!(mount.typ, Some(MountType::VOLUME));
    assert_eq!(hc.network_mode.as_deref(), Some("vpc-1"));
    assert_eq!(hc.nano_cpus, Some(2_000_000_000));
    assert_eq!(hc.memory, Some(1 << 30));
    assert_eq!(
        hc.extra_hosts,
        Some(vec!["cp.internal:10.9.0.1".to_string()])
    );

    assert_eq!(body.env, Some(vec!["container=docker".to_string()]));
    assert_eq!(body.stop_signal.as_deref(), Some("SIGRTMIN+3"));
    assert_eq!(body.hostname.as_deref(), Some("ip-10-9-0-5.ec2.internal"));
    let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
    let ip = endpoints["vpc-1"]
        .ipam_config
        .as_ref()
        .unwrap()
        .ipv4_address
        .clone();
    assert_eq!(ip.as_deref(), Some("10.9.0.5"));
    let labels = body.labels.unwrap();
    assert_eq!(labels[MANAGED_LABEL], "i-0");
    assert_eq!(labels["run"], "r1");
    let entrypoint = body.entrypoint.unwrap();
    assert_eq!(&entrypoint[..2], &["/bin/sh".to_string(), "-c".to_string()]);
    assert!(entrypoint[2].ends_with("exec /sbin/init\n"));
}

#[test]
fn limits_of_zero_mean_no_limit() {
    let hc = instance_host_config(None, "v", 0, 0);
    assert_eq!((hc.nano_cpus, hc.memory), (None, None));
}

#[test]
fn the_boot_script_guards_cgroups_before_systemd_and_dnats_imds() {
    let script = boot_script("10.9.0.1:8111".parse().unwrap());
    let at = |needle: &str| {
        script
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{script}"))
    };
    // Writable /sys and cgroups first, then the guard, then the NAT, then systemd.
    assert!(at("mount -o remount,rw /sys\n") < at("guard() {"));
    assert!(at("awk 'NR > 1 && $4 == 1") < at("exec /sbin/init"));
    assert!(at("guard /sys/fs/cgroup/net_cls,net_prio") < at("exec /sbin/init"));
    assert!(at("mount -t tmpfs -o ro,") < at("exec /sbin/init"));
    assert!(at("--to-destination 10.9.0.1:8111") < at("exec /sbin/init"));
    assert!(script.contains("for chain in OUTPUT PREROUTING"));
    assert!(script.contains("-d 169.254.169.254/32 -p tcp --dport 80 -j DNAT"));
    assert!(
        script.starts_with("set -eu\n"),
        "a failed step must stop the boot"
    );
}

#[test]
fn the_boot_script_runs_in_a_posix_shell() {
    let script = boot_script("10.9.0.1:80".parse().unwrap());
    let status = std::process::Command::new("sh")
        .args(["-n", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success(), "sh -n refused the boot script:\n{script}");
}

/// The guard's own logic, run with sh and awk against a fake mountinfo and /proc/cgroups: the
/// controllers the host has no hierarchy for are the ones covered.
#[test]
fn the_guard_covers_exactly_the_unmounted_controllers() {
    let script = boot_script("10.9.0.1:80".parse().unwrap());
    let start = script.find("mounted=").unwrap();
    let end = script.find("for chain").unwrap();
    let guard_part = script[start..end]
        .replace("/proc/self/mountinfo", "$MOUNTINFO")
        .replace("/proc/cgroups", "$CGROUPS");
    let fstype = &script[script.find("fstype_mounts() {").unwrap()
        ..script.find("mount -o remount,rw /sys\n").unwrap()]
        .replace("/proc/self/mountinfo", "$MOUNTINFO");
    let dir = tempfile::tempdir().unwrap();
    let mountinfo = dir.path().join("mountinfo");
    std::fs::write(
        &mountinfo,
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
         32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n\
         35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
         40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
         41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
    )
    .unwrap();
    let cgroups = dir.path().join("cgroups");
    std::fs::write(
        &cgroups,
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
         cpu\t1\t1\t1\ncpuacct\t2\t1\t1\nmemory\t4\t42\t1\nnet_cls\t0\t1\t1\nhugetlb\t0\t1\t1\nrdma\t0\t1\t0\n",
    )
    .unwrap();
    // mountpoint and mount stubbed: record what would be covered.
    let test = format!(
        "mountpoint() {{ return 1; }}\nmkdir() {{ :; }}\nmount() {{ echo \"COVER $6\"; }}\nsay() {{ :; }}\n{fstype}\n{guard_part}"
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &test])
        .env("MOUNTINFO", &mountinfo)
        .env("CGROUPS", &cgroups)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let covered: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("COVER "))
        .collect();
    assert_eq!(
        covered,
        [
            "/sys/fs/cgroup/cpuacct",
            "/sys/fs/cgroup/net_cls",
            "/sys/fs/cgroup/hugetlb",
            "/sys/fs/cgroup/cpu,cpuacct",
            "/sys/fs/cgroup/net_cls,net_prio",
        ]
    );
}

#[test]
fn user_data_and_files_go_into_one_tar_with_modes() {
    let files = instance_files(&spec());
    assert_eq!(files[0].path, USER_DATA_PATH);
    assert_eq!(files[0].mode, 0o600);
    let tar = tar_archive(&files).unwrap();
    assert_eq!(tar.len() % 512, 0);
    // Header of the first file: name, mode, size, ustar magic, a valid checksum.
    let header = &tar[..512];
    assert!(header.starts_with(b"var/lib/cloud/instance/user-data.txt\0"));
    assert_eq!(&header[100..107], b"0000600");
    assert_eq!(&header[124..135], format!("{:011o}", 18).as_bytes());
    assert_eq!(&header[257..263], b"ustar\0");
    let mut copy = header.to_vec();
    copy[148..156].fill(b' ');
    let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
    assert_eq!(&header[148..154], format!("{sum:06o}").as_bytes());
    assert_eq!(&tar[512..530], b"#!/bin/sh\necho hi\n");
    // The second file starts on the next 512-byte boundary.
    assert!(tar[1024..].starts_with(b"etc/systemd/system/ecs.service.d/test.conf\0"));
}

#[test]
fn tar_is_readable_by_tar() {
    let long = format!("/opt/{}/{}", "d".repeat(120), "f".repeat(90));
    let files = [InstanceFile {
        path: long.clone(),
        contents: b"x".to_vec(),
        mode: 0o755,
    }];
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.tar");
    std::fs::write(&archive, tar_archive(&files).unwrap()).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(listing.contains(&long[1..]), "{listing}");
    assert!(listing.starts_with("-rwxr-xr-x"), "{listing}");
}

#[test]
fn tar_refuses_paths_it_cannot_place() {
    for path in [
        "etc/x",
        "/",
        "/etc/../x",
        "/etc//x",
        &format!("/{}", "a".repeat(300)),
    ] {
        let files = [InstanceFile {
            path: path.into(),
            contents: vec![],
            mode: 0o644,
        }];
        assert!(tar_archive(&files).is_err(), "{path:?} was accepted");
    }
}

#[test]
fn proc_cgroups_parses_into_hierarchy_ids() {
    let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nnet_cls\t0\t1\t1\n";
    assert_eq!(
        cgroup_hierarchies(text),
        [("cpuset".to_string(), 3), ("net_cls".to_string(), 0)]
    );
}

#[test]
fn rfc3339_of_unix_seconds() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
}

#[test]
fn names_use_the_prefix() {
    let docker = Docker::connect_with_local_defaults().unwrap();
    let host = DockerHost::with_docker(docker).with_name_prefix("t1-");
    assert_eq!(host.container_name("i-1"), "t1-i-1");
    assert_eq!(host.volume_name("i-1"), "t1-i-1-docker");
}
