//! Control of the local RabbitMQ for the tests that stop it mid-stream.

use std::process::Command;

/// Whether the local broker answers on 127.0.0.1:5672 and `rabbitmqctl` can control it;
/// when not, says why the calling test skips.
pub fn controllable() -> bool {
    let up = std::net::TcpStream::connect("127.0.0.1:5672").is_ok()
        && Command::new("rabbitmqctl")
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success());
    if !up {
        eprintln!("skipped: no controllable RabbitMQ on 127.0.0.1:5672 (make services starts it)");
    }
    up
}

/// Runs `rabbitmqctl ACTION` (`stop_app`, `start_app`) and requires it to succeed.
pub fn rabbitmqctl(action: &str) {
    let status = Command::new("rabbitmqctl")
        .arg(action)
        .status()
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {action} failed");
}

/// Starts the RabbitMQ application again when dropped, so a failing test never leaves the
/// broker stopped for the tests after it.
pub struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").status();
    }
}
