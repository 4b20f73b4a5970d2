//! The web console in real headless Chromium: the pipeline list, a
//! pipeline's stages with an execution moving through them, the approval
//! answered with the console's own button and summary field, the execution
//! page showing it succeed. Screenshots of each step are kept in
//! `target/tmp/console/` (`CARGO_TARGET_TMPDIR`).
//!
//! `scripts/test.sh` installs Debian's `chromium-headless-shell`; set
//! `CHROMIUM` to use another binary.

use sluice_tests::browser::{Browser, find_chromium};
use sluice_tests::fixtures;
use sluice_tests::server::ServerProcess;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("console")
}

const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn console_shows_an_execution_progress_and_answers_its_approval() {
    let chromium = find_chromium().expect(
        "no Chromium: `apt-get install chromium-headless-shell` (scripts/test.sh does), or set CHROMIUM",
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let src = sluice_tests::gated_source_folder(dir.path(), &[("app.txt", "v1")]);
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let definition = format!(
        r#"
name: web-release
stages:
  - name: Source
    actions:
      - name: Checkout
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Build
    actions:
      - {{ name: Compile, provider: "{gate}", inputs: [Code], outputs: [Built], configuration: {{ Behavior: sleep, Millis: "2500" }} }}
      - {{ name: Check, provider: "{gate}", run_order: 2, inputs: [Built], configuration: {{ Behavior: succeed }} }}
  - name: Approve
    actions:
      - name: Release
        provider: builtin:manual
        configuration: {{ CustomData: "Ship v1?" }}
  - name: Deploy
    actions:
      - {{ name: Ship, provider: "builtin:noop", inputs: [Built] }}
"#,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display()
    );
    server.apply(&definition, dir.path()).await;

    let browser = Browser::launch(&chromium).await.unwrap();
    // The address `sluice serve` prints: the token rides in the fragment.
    browser
        .goto(&format!("{}/#token={}", server.url, server.token))
        .await
        .unwrap();
    browser
        .wait_for_selector("#pipelines tr[data-pipeline='web-release']", LONG)
        .await
        .unwrap();
    browser
        .wait_for(
            "document.getElementById('live').textContent === 'live'",
            LONG,
        )
        .await
        .unwrap();
    // The token left the address bar and was kept.
    assert_eq!(
        browser.eval("location.hash").await.unwrap(),
        "#/",
        "the token stays out of the address bar"
    );
    browser
        .screenshot(&shots().join("1-pipelines.png"))
        .await
        .unwrap();

    // The pipeline page: four stages left to right, three transitions.
    browser.click("a.pipeline-link").await.unwrap();
    browser
        .wait_for(
            "document.querySelectorAll('#stages section.stage').length === 4 && document.querySelectorAll('#stages .transition').length === 3",
            LONG,
        )
        .await
        .unwrap();
    let columns = browser
        .eval("document.querySelectorAll(\"section.stage[data-stage='Build'] .run-order\").length")
        .await
        .unwrap();
    assert_eq!(columns, 2, "run orders are columns inside the stage");

    // Start from the console and watch it move: Compile runs, live.
    browser.click("#start").await.unwrap();
    browser
        .wait_for_selector(
            "section.stage[data-stage='Build'] .action[data-action='Compile'][data-status='InProgress']",
            LONG,
        )
        .await
        .unwrap();
    browser
        .screenshot(&shots().join("2-running.png"))
        .await
        .unwrap();
    let source_done = browser
        .eval(
            "document.querySelector(\"section.stage[data-stage='Source'] .action\").dataset.status",
        )
        .await
        .unwrap();
    assert_eq!(source_done, "Succeeded");

    // It reaches the approval (no reload: the page follows the events).
    browser
        .wait_for_selector(
            "section.stage[data-stage='Approve'] .action[data-status='WaitingForApproval']",
            LONG,
        )
        .await
        .unwrap();
    assert_eq!(
        browser
            .eval("document.querySelector(\"section.stage[data-stage='Build'] .action[data-action='Check']\").dataset.status")
            .await
            .unwrap(),
        "Succeeded"
    );
    browser
        .screenshot(&shots().join("3-awaiting-approval.png"))
        .await
        .unwrap();

    // The execution page, from the link on the stage holding it.
    browser
        .click("section.stage[data-stage='Approve'] .holder a")
        .await
        .unwrap();
    browser
        .wait_for_selector(
            ".action-detail[data-action='Release'][data-status='WaitingForApproval'] button.approve",
            LONG,
        )
        .await
        .unwrap();
    let id = browser
        .eval("location.hash.split('/').pop()")
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    browser
        .type_into(
            ".action-detail[data-action='Release'] .approval-summary",
            "looks good",
        )
        .await
        .unwrap();
    browser
        .click(".action-detail[data-action='Release'] button.approve")
        .await
        .unwrap();
    browser
        .wait_for(
            "document.querySelector('#execution-status .badge')?.textContent === 'Succeeded'",
            LONG,
        )
        .await
        .unwrap();
    let approval_line = browser
        .wait_for(
            "[...document.querySelectorAll(\".action-detail[data-action='Release'] .muted\")].map(e => e.textContent).find(t => t.startsWith('approved by')) || null",
            LONG,
        )
        .await
        .unwrap();
    // The approver recorded is the token's name (the bootstrap token here),
    // never something the page says.
    assert_eq!(approval_line, "approved by admin: looks good");
    let deploy = browser
        .eval("document.querySelector(\".stage-detail[data-stage='Deploy'] .action-detail\").dataset.status")
        .await
        .unwrap();
    assert_eq!(deploy, "Succeeded");
    browser
        .screenshot(&shots().join("4-succeeded.png"))
        .await
        .unwrap();

    // The server agrees: the approval came from the console's call.
    let (_, detail) = server.call("GET", &format!("/executions/{id}"), None).await;
    let execution = &detail["execution"];
    assert_eq!(execution["status"], "Succeeded", "{execution}");
    let release = &execution["stages"][2]["actions"][0];
    assert_eq!(release["approval"]["approved"], true, "{release}");
    assert_eq!(release["approval"]["summary"], "looks good");

    // The log of an action, from its panel.
    browser
        .eval("document.querySelector(\".action-detail[data-action='Release'] details.log-panel\").open = true")
        .await
        .unwrap();
    browser
        .wait_for(
            "document.querySelector(\".action-detail[data-action='Release'] pre.log\").textContent.length > 0",
            LONG,
        )
        .await
        .unwrap();
    browser
        .screenshot(&shots().join("5-log.png"))
        .await
        .unwrap();

    assert!(
        browser.errors().is_empty(),
        "the page reported errors: {:?}",
        browser.errors()
    );
    eprintln!("screenshots in {}", shots().display());
}
