//! Smoke tests of the test image and the test registry against the real Docker Engine.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ecs_e2e_tests::{
    Container, Registry, TEST_IMAGE_GREETING, TEST_IMAGE_PORT, docker, http_get, image_exists,
    test_image, wait_until,
};

/// Waits for the test image's server in `container` to answer `path` with status 200.
fn get_when_up(container: &Container, container_port: u16, path: &str) -> Result<String> {
    let port = container.host_port(&format!("{container_port}/tcp"))?;
    let url = format!("http://127.0.0.1:{port}{path}");
    wait_until(
        Duration::from_secs(20),
        &format!("{url} to answer 200"),
        || {
            let response = http_get(&url)?;
            ensure!(response.status == 200, "status {}", response.status);
            Ok(Some(response.text()))
        },
    )
    .with_context(|| format!("container logs: {}", container.logs().unwrap_or_default()))
}

#[test]
fn test_image_is_built_once_and_cached_by_content() -> Result<()> {
    let first = test_image()?;
    assert!(
        first.reference.starts_with("localhost/ecs-e2e/httpd:"),
        "{}",
        first.reference
    );
    assert!(first.reference.ends_with(&first.tag));
    assert!(image_exists(&first.reference)?);
    let start = Instant::now();
    assert_eq!(test_image()?, first);
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "the second call rebuilt"
    );

    let config = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        &first.reference,
    ])?;
    let config: serde_json::Value = serde_json::from_str(&config)?;
    assert_eq!(config["Cmd"], serde_json::json!(["/bin/ecs-e2e-httpd"]));
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    Ok(())
}

#[test]
fn registry_answers_and_holds_pushed_images() -> Result<()> {
    let registry = Registry::start()?;
    let v2 = http_get(&format!("{}/v2/", registry.url()))?;
    assert_eq!(v2.status, 200);
    assert_eq!(
        v2.header("Docker-Distribution-Api-Version"),
        Some("registry/2.0")
    );

    let reference = registry.push_test_image()?;
    let image = test_image()?;
    assert_eq!(
        reference,
        format!("{}/ecs-e2e/httpd:{}", registry.host(), image.tag)
    );
    assert_eq!(registry.catalog()?, vec!["ecs-e2e/httpd".to_owned()]);
    // The push leaves no local tag: whoever runs the reference has to pull it.
    assert!(!image_exists(&reference)?);
    docker(&["pull", &reference])?;
    assert!(image_exists(&reference)?);
    Ok(())
}

#[test]
fn registry_drop_kills_it_and_untags_its_images() -> Result<()> {
    let mut registry = Registry::start()?;
    let reference = registry.push_test_image()?;
    docker(&["pull", &reference])?;
    let pid = registry.process().id();
    let storage = registry.storage_dir();
    let url = format!("{}/v2/", registry.url());
    assert!(storage.exists());

    drop(registry);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!storage.exists());
    assert!(http_get(&url).is_err(), "something still answers {url}");
    assert!(!image_exists(&reference)?);
    Ok(())
}

#[test]
fn test_image_serves_its_greeting_from_the_registry() -> Result<()> {
    let registry = Registry::start()?;
    let reference = registry.push_test_image()?;
    let container = Container::run(&[
        "-p",
        "127.0.0.1::8080",
        "-e",
        "ECS_E2E_PROBE=visible",
        &reference,
    ])?;
    let body = get_when_up(&container, TEST_IMAGE_PORT, "/")?;
    assert_eq!(body, format!("{TEST_IMAGE_GREETING}\n"));
    let env = get_when_up(&container, TEST_IMAGE_PORT, "/cgi-bin/env")?;
    assert!(env.lines().any(|l| l == "ECS_E2E_PROBE=visible"), "{env}");

    // SIGTERM ends it at once with 0, not after the 30 s grace period.
    let start = Instant::now();
    let exit_code = container.stop(Duration::from_secs(30))?;
    assert_eq!(exit_code, 0);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    Ok(())
}

#[test]
fn test_image_port_and_message_come_from_the_environment() -> Result<()> {
    let registry = Registry::start()?;
    let reference = registry.push_test_image()?;
    let container = Container::run(&[
        "-p",
        "127.0.0.1::9090",
        "-e",
        "HTTPD_PORT=9090",
        "-e",
        "HTTPD_MESSAGE=task web-1",
        &reference,
    ])?;
    assert_eq!(get_when_up(&container, 9090, "/")?, "task web-1\n");
    Ok(())
}

#[test]
fn test_image_runs_a_command_override() -> Result<()> {
    let registry = Registry::start()?;
    let reference = registry.push_test_image()?;
    let container = Container::run(&[&reference, "sh", "-c", "echo done; exit 3"])?;
    let exit_code = wait_until(Duration::from_secs(20), "the container to exit", || {
        let state = container.inspect()?;
        anyhow::Ok(
            (state["State"]["Status"] == "exited").then(|| state["State"]["ExitCode"].as_i64()),
        )
    })?;
    assert_eq!(exit_code, Some(3));
    assert_eq!(container.logs()?, "done\n");
    Ok(())
}
