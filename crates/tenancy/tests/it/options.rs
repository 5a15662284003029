//! Bad configuration: a clear message on stderr and exit code 2, never a
//! panic, and nothing created on disk when the mistake is in an option.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::support::command;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn assert_refused(output: &Output, expected: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected `{expected}` in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_options_exit_2_with_a_message_and_create_nothing() {
    // (arguments, environment, what stderr says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            &["serve", "--listen", "nowhere"],
            &[],
            "invalid value 'nowhere' for '--listen <ADDR>'",
        ),
        (&["serve", "--bogus"], &[], "unexpected argument '--bogus'"),
        (
            &["serve", "--invitation-ttl", "0s"],
            &[],
            "`--invitation-ttl` must be positive",
        ),
        (
            &["serve", "--invitation-ttl", "soon"],
            &[],
            "`--invitation-ttl` `soon` is not a duration",
        ),
        (
            &["serve"],
            &[("TENANCY_INVITATION_TTL", "0s")],
            "`--invitation-ttl` must be positive",
        ),
        (
            &["serve", "--verification-ttl", "0s"],
            &[],
            "`--verification-ttl` must be positive",
        ),
        (
            &["serve", "--session-ttl", "forever"],
            &[],
            "`--session-ttl` `forever` is not a duration",
        ),
        (
            &["serve"],
            &[("TENANCY_SESSION_IDLE_TIMEOUT", "20000d")],
            "`--session-idle-timeout` `20000d` is too long",
        ),
        (
            &["serve", "--deletion-grace", "soon"],
            &[],
            "`--deletion-grace` `soon` is not a duration",
        ),
        (
            &["serve"],
            &[("TENANCY_DELETION_GRACE", "20000d")],
            "`--deletion-grace` `20000d` is too long",
        ),
        (
            &["serve"],
            &[("TENANCY_TEST_PURGE_PAUSE", "0s")],
            "`TENANCY_TEST_PURGE_PAUSE` must be more than 0",
        ),
        (
            &["serve", "--public-url", "ftp://example.com"],
            &[],
            "`--public-url`",
        ),
        (
            &["serve", "--smtp-url", "http://mail.local"],
            &[],
            "`--smtp-url` must start with `smtp://`",
        ),
        (
            &["serve", "--smtp-url", "smtps://mail.local"],
            &[],
            "only plain SMTP",
        ),
        (
            &[
                "serve",
                "--smtp-url",
                "smtp://mail.local",
                "--mail-dir",
                "x",
            ],
            &[],
            "cannot be used with",
        ),
        (
            &["serve", "--mail-from", "not an address"],
            &[],
            "`--mail-from`",
        ),
        (
            &["serve", "--plans", "missing.toml"],
            &[],
            "cannot read the plans file `missing.toml`",
        ),
        (
            &["serve", "--max-upload-bytes", "0"],
            &[],
            "`--max-upload-bytes` must be at least 1",
        ),
        (
            &["serve", "--max-upload-bytes=-5"],
            &[],
            "invalid value '-5' for '--max-upload-bytes <BYTES>'",
        ),
        (
            &["serve", "--database", "mysql://root@db/x"],
            &[],
            "`--database` must be",
        ),
        (
            &["migrate", "--database", "nope"],
            &[],
            "`--database` must be",
        ),
        (
            &["serve", "--log-format", "xml"],
            &[],
            "invalid value 'xml'",
        ),
        (
            &["serve"],
            &[("TENANCY_LOG", "tenancy=loud")],
            "`TENANCY_LOG` is not a log filter",
        ),
        (&[], &[], "Usage: tenancy"),
    ];
    for (args, env, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let output = run(dir.path(), args, env);
        assert_refused(&output, expected);
        let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(created.is_empty(), "{args:?} created {created:?}");
    }
}

#[test]
fn secrets_in_bad_options_are_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["serve", "--service-token", "hunter2-is-no-token"],
        &[],
    );
    let stderr = assert_refused(&output, "`--service-token` must be 43 base64url characters");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let output = run(
        dir.path(),
        &["serve", "--database", "mysql://root:hunter2@db/x"],
        &[],
    );
    let stderr = assert_refused(&output, "mysql://***@db/x");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let output = run(
        dir.path(),
        &["serve", "--smtp-url", "smtp://me:hunter2@mail.local"],
        &[],
    );
    let stderr = assert_refused(&output, "SMTP authentication is not supported");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_key_file_of_the_wrong_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    std::fs::write(&key, b"short").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = run(
        dir.path(),
        &["serve", "--secret-key-file", "secret.key"],
        &[],
    );
    assert_refused(
        &output,
        "holds 5 bytes, but a key is exactly 32 random bytes",
    );
    assert_eq!(
        std::fs::read(&key).unwrap(),
        b"short",
        "the file was changed"
    );
}

#[test]
fn a_key_file_that_others_may_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    std::fs::write(&key, [7_u8; 32]).unwrap();
    for mode in [0o644, 0o640, 0o602] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let output = run(
            dir.path(),
            &["serve", "--secret-key-file", "secret.key"],
            &[],
        );
        assert_refused(&output, &format!("has mode {mode:04o}"));
        assert_refused(&output, "chmod 600 secret.key");
    }
}

#[test]
fn an_address_in_use_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(dir.path(), &["serve", "--listen", &addr], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[test]
fn migrate_applies_the_migrations_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = run(
            dir.path(),
            &["migrate", "--database", "sqlite://db/t.db"],
            &[],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains("migrations applied"), "{stderr}");
    }
    assert!(dir.path().join("db/t.db").is_file());
    // It needs no key file.
    assert!(!dir.path().join("tenancy-data").exists());
}
