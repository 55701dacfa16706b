//! The error reference page in a real browser (headless Chromium): every code
//! has its section and anchor, and nothing overflows sideways on a phone or a
//! desktop. Skips with a notice when `chromium` is not installed (`.ci/run`
//! installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use tollgate::{Catalog, Dialect, docs};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let found = Command::new("which").arg(name).output().ok()?;
            found
                .status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
        })
}

/// The DOM after load, with scripts of the harness (not the page) run.
fn dump_dom(browser: &Path, dir: &Path, url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn error_reference_renders_on_phone_and_desktop() {
    let Some(browser) = chromium() else {
        eprintln!("skipping: chromium is not installed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tollgate-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // With the longest code a catalog may hold (63 characters).
    let long = format!(
        "[errors.{}]\nstatus = 400\ntitle = 'T'\nmessage = 'm'\n",
        "a".repeat(63)
    );
    let catalog = Catalog::from_toml("long.toml", &long).unwrap();
    let page = docs::html(&catalog, Dialect::Problem, None);
    assert!(
        !page.contains("<script"),
        "the page works without JavaScript"
    );
    std::fs::write(dir.join("errors.html"), &page).unwrap();

    // A harness page (not the reference itself) measures the reference in
    // frames of a phone's and a desktop's width.
    let harness = r#"<!doctype html><html><body>
<iframe id="phone" src="errors.html" style="width:390px;height:800px;border:0"></iframe>
<iframe id="desktop" src="errors.html" style="width:1280px;height:800px;border:0"></iframe>
<pre id="out"></pre>
<script>
window.addEventListener("load", () => {
  const report = {};
  for (const id of ["phone", "desktop"]) {
    const frame = document.getElementById(id);
    const doc = frame.contentDocument;
    report[id] = {
      width: frame.clientWidth,
      scrollWidth: doc.documentElement.scrollWidth,
      sections: doc.querySelectorAll("main section[id]").length,
      fontSize: parseFloat(getComputedStyle(doc.body).fontSize),
    };
  }
  document.getElementById("out").textContent = "REPORT" + JSON.stringify(report) + "END";
});
</script></body></html>"#;
    std::fs::write(dir.join("harness.html"), harness).unwrap();

    let dom = dump_dom(
        &browser,
        &dir,
        &format!("file://{}", dir.join("harness.html").display()),
    );
    let start = dom.find("REPORT").expect("the harness ran") + "REPORT".len();
    let end = dom[start..].find("END").unwrap() + start;
    let report: serde_json::Value = serde_json::from_str(&dom[start..end]).unwrap();
    let codes = catalog.iter().count() as u64;
    for device in ["phone", "desktop"] {
        let r = &report[device];
        assert_eq!(r["sections"].as_u64(), Some(codes), "{device}: {r}");
        assert!(
            r["scrollWidth"].as_u64() <= r["width"].as_u64(),
            "{device} overflows sideways: {r}"
        );
        assert!(
            r["fontSize"].as_f64().unwrap() >= 14.0,
            "{device}: text too small: {r}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
