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
    rabbitmqctl_args(&[action]);
}

/// Runs `rabbitmqctl ARGS...` and requires it to succeed, except that purging a queue that
/// does not exist yet is fine.
pub fn rabbitmqctl_args(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    let missing_queue = args.first() == Some(&"purge_queue")
        && String::from_utf8_lossy(&output.stderr).contains("not_found");
    assert!(
        output.status.success() || missing_queue,
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the RabbitMQ application again when dropped, so a failing test never leaves the
/// broker stopped for the tests after it.
pub struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").status();
    }
}
