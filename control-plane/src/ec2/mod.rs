//! Emulated EC2: instances as containers that boot systemd (the Docker side; the API is the
//! EC2 service's).
pub mod docker_host;
pub mod host;
