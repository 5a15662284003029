//! `cargo xtask bench [store | http | peers | soak]`: runs a benchmark (all of them without a name) and writes its figures to `docs/benchmarks.md`.
//!
//! A benchmark prints its markdown section (`## Store` for the store's) on stdout and its progress on stderr.
//! This task shows both as they come, then replaces that section of `docs/benchmarks.md` and rewrites the file's header
//! (machine, date, command), so that the committed figures are the ones last measured and say where they come from.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, cargo, project_root};

/// The admin URL of the PostgreSQL server the store's benchmark creates its database on.
pub const POSTGRES_URL_VAR: &str = "TENANCY_BENCH_POSTGRES_URL";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Relative to the workspace root.
pub const DOCUMENT: &str = "docs/benchmarks.md";

/// How much data the benchmark seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The figures of record, written to [`DOCUMENT`].
    Full,
    /// A tenth of the data, to check that the benchmark runs; nothing is written.
    Quick,
}

/// `cargo bench -p tenancy-store --bench store`, in release as `cargo bench` builds, then the `## Store` section.
pub fn store(size: Size) -> Result<(), Error> {
    let mut args = vec!["bench", "--package", "tenancy-store", "--bench", "store"];
    if size == Size::Quick {
        args.extend(["--", "--quick"]);
    }
    let url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
    let display = format!("cargo {}", args.join(" "));
    println!("$ {POSTGRES_URL_VAR}={} {display}", redact_url(&url));
    let mut command = cargo(&args);
    command.env(POSTGRES_URL_VAR, &url);
    let section = capture_section(command, &display)?;
    if size == Size::Quick {
        println!(
            "not writing {DOCUMENT}: a --quick run is a smoke test, not the figures of record"
        );
        return Ok(());
    }
    write_section(&section, "cargo xtask bench store")
}

/// The folder of the authorization benchmark against cedar-policy and
/// casbin: a workspace of its own, so that the product never builds them.
pub const PEERS: &str = "benches/peers";

/// The in-process authorization benchmark against the peers, at the sizes
/// of the issue (50,000, 100,000 and 1,000,000 memberships), then its section.
pub fn peers(quick: bool) -> Result<(), Error> {
    let manifest = project_root().join(PEERS).join("Cargo.toml");
    let manifest = manifest.to_string_lossy().into_owned();
    let sizes = if quick {
        "50000"
    } else {
        "50000,100000,1000000"
    };
    let mut args = vec![
        "run",
        "--release",
        "--manifest-path",
        &manifest,
        "--",
        "--sizes",
        sizes,
    ];
    if quick {
        args.extend(["--repeats", "1", "--rounds", "1"]);
    }
    let display = format!("cargo {}", args.join(" "));
    println!("$ {display}");
    let section = capture_section(cargo(&args), &display)?;
    if quick {
        println!(
            "not writing {DOCUMENT}: a --quick run is a smoke test, not the figures of record"
        );
        return Ok(());
    }
    write_section(&section, "cargo xtask bench peers")
}

/// Runs a benchmark, echoing its stdout, and returns what it printed: its
/// markdown section.
pub fn capture_section(mut command: Command, display: &str) -> Result<String, Error> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run `{display}`: {error}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("`{display}` has no stdout to read"))?;
    let mut section = String::new();
    for line in BufReader::new(stdout).lines() {
        let line =
            line.map_err(|error| format!("cannot read the output of `{display}`: {error}"))?;
        println!("{line}");
        section.push_str(&line);
        section.push('\n');
    }
    let status = child
        .wait()
        .map_err(|error| format!("`{display}` did not finish: {error}"))?;
    if !status.success() {
        return Err(Error::CommandFailed {
            command: display.to_owned(),
            status,
        });
    }
    Ok(section)
}

/// Replaces the section's part of [`DOCUMENT`] and rewrites its header.
pub fn write_section(section: &str, command: &str) -> Result<(), Error> {
    let header = header(&machine(), &today(), command);
    let path = project_root().join(DOCUMENT);
    let existing = read_if_present(&path)?;
    let updated = update_document(existing.as_deref(), &header, section)?;
    fs::write(&path, updated)
        .map_err(|error| format!("cannot write `{}`: {error}", path.display()))?;
    println!("updated {DOCUMENT}");
    Ok(())
}

/// The document's header: everything above its first `## ` section.
pub fn header(machine: &str, date: &str, command: &str) -> String {
    format!(
        "# Benchmarks\n\
         \n\
         Figures from one machine, as the benchmark printed them: compare them only with runs on the same machine.\n\
         Each section is rewritten by its command, which also rewrites this header; the header describes the last run.\n\
         \n\
         - Machine: {machine}\n\
         - Date: {date}\n\
         - Command: `{command}`\n"
    )
}

/// `existing` (the document, if any) with its header replaced by `header` and the section that `section` starts with
/// (a `## ` heading line) replaced by `section`, or `section` appended when the document has no such section yet.
pub fn update_document(
    existing: Option<&str>,
    header: &str,
    section: &str,
) -> Result<String, Error> {
    let heading = section
        .lines()
        .next()
        .filter(|line| line.starts_with("## "))
        .ok_or_else(|| {
            Error::Other("the benchmark printed no markdown section: its output must start with a `## ` heading".to_owned())
        })?;
    let mut sections = split_sections(existing.unwrap_or_default());
    match sections
        .iter_mut()
        .find(|old| old.lines().next() == Some(heading))
    {
        Some(old) => *old = section,
        None => sections.push(section),
    }
    let mut document = header.trim_end().to_owned();
    document.push('\n');
    for section in sections {
        document.push('\n');
        document.push_str(section.trim_end());
        document.push('\n');
    }
    Ok(document)
}

/// The `## ` sections of a markdown document, each from its heading to the next one; the header above them is dropped.
fn split_sections(document: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in document.split_inclusive('\n') {
        if line.starts_with("## ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| &document[start..starts.get(i + 1).copied().unwrap_or(document.len())])
        .collect()
}

/// CPUs (`nproc`), memory (`/proc/meminfo`) and kernel (`uname -r`), each `unknown` where it cannot be read.
pub(crate) fn machine() -> String {
    let cpus = command_output("nproc", &[]).unwrap_or_else(|| "unknown".to_owned());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| mem_total_gib(&meminfo))
        .map_or_else(|| "unknown".to_owned(), |gib| format!("{gib:.1} GiB"));
    let kernel = command_output("uname", &["-r"]).unwrap_or_else(|| "unknown".to_owned());
    format!("{cpus} CPUs (`nproc`), {memory} of memory (`MemTotal`), Linux {kernel} (`uname -r`)")
}

pub(crate) fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// `MemTotal:  24684092 kB` in GiB.
fn mem_total_gib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

/// Today's date in UTC, as `YYYY-MM-DD (UTC)`.
pub(crate) fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!("{year:04}-{month:02}-{day:02} (UTC)")
}

/// `20`, `20s` or `2m` as seconds, from 1 s to an hour; `None` otherwise.
pub(crate) fn seconds(text: &str) -> Option<u64> {
    let (number, scale) = match text.strip_suffix('s') {
        Some(number) => (number, 1),
        None => match text.strip_suffix('m') {
            Some(number) => (number, 60),
            None => (text, 1),
        },
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|seconds| (1..=3_600).contains(seconds))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`), so that xtask needs no
/// date crate for one line of a document.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction: 1..=31 and 1..=12.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// `postgres://user:password@host/db` without its credentials, to print the command that runs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn read_if_present(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(contents) => Ok(Some(contents)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::Other(format!(
            "cannot read `{}`: {error}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# Benchmarks\n\nnew header\n";

    #[test]
    fn creates_the_document_with_the_header_and_the_section() {
        let document = update_document(None, HEADER, "## Store\n\n| a |\n").unwrap();
        assert_eq!(
            document,
            "# Benchmarks\n\nnew header\n\n## Store\n\n| a |\n"
        );
    }

    #[test]
    fn replaces_its_own_section_and_the_header_and_keeps_the_others() {
        let existing = "# Benchmarks\n\nold header\n\n## Http\n\nhttp figures\n\n## Store\n\nold store\n\n## Z\n\nz\n";
        let document = update_document(Some(existing), HEADER, "## Store\n\nnew store\n").unwrap();
        assert_eq!(
            document,
            "# Benchmarks\n\nnew header\n\n## Http\n\nhttp figures\n\n## Store\n\nnew store\n\n## Z\n\nz\n"
        );
    }

    #[test]
    fn a_subsection_is_part_of_its_section() {
        let existing = "# B\n\n## Store\n\nold\n\n### Latency\n\nold latency\n";
        let document =
            update_document(Some(existing), HEADER, "## Store\n\n### Latency\n\nnew\n").unwrap();
        assert_eq!(
            document,
            "# Benchmarks\n\nnew header\n\n## Store\n\n### Latency\n\nnew\n"
        );
    }

    #[test]
    fn output_without_a_section_heading_is_an_error() {
        let error = update_document(None, HEADER, "| a |\n").unwrap_err();
        assert!(error.to_string().contains("`## `"), "{error}");
    }

    #[test]
    fn the_header_names_machine_date_and_command() {
        let header = header("2 CPUs", "2026-01-02 (UTC)", "cargo xtask bench store");
        assert!(header.starts_with("# Benchmarks\n"), "{header}");
        for expected in [
            "- Machine: 2 CPUs",
            "- Date: 2026-01-02 (UTC)",
            "- Command: `cargo xtask bench store`",
        ] {
            assert!(header.contains(expected), "{header} lacks {expected}");
        }
    }

    #[test]
    fn days_become_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn reads_total_memory() {
        let gib = mem_total_gib("MemTotal:       24684092 kB\nMemFree: 1 kB\n").unwrap();
        assert!((gib - 23.54).abs() < 0.01, "{gib}");
        assert_eq!(mem_total_gib("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://***@h:5432/db"
        );
        assert_eq!(
            redact_url(DEFAULT_POSTGRES_URL),
            "postgres://***@127.0.0.1:5432/postgres"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
