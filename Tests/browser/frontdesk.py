"""The front desk's journey in Chromium, driven through WebDriver (Selenium and Debian's
chromedriver): take up an invitation, scan a card with a keyboard-wedge scanner (the code and
Enter typed into whatever has the focus), credit a cash purchase after reading its points,
and see the new balance. Screenshots of the pages go to --shots.

Prints one JSON object: what it saw and how long the desk's part took."""
import argparse
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def axe_violations(driver):
    """Serious and critical violations that axe-core (bundled in the axe-selenium-python
    package from PyPI; nothing is fetched) finds on the current page."""
    from axe_selenium_python import Axe
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    # Proof that it ran: the rules that passed, as a count.
    driver.axe_passes = getattr(driver, "axe_passes", 0) + len(results["passes"])
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"] if v.get("impact") in ("serious", "critical")]


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--invite", required=True)
    parser.add_argument("--member", required=True)
    parser.add_argument("--amount", default="120")
    parser.add_argument("--shots", required=True)
    args = parser.parse_args()
    seen = {"accessibility": {}}
    # A tablet at the front desk.
    driver = browser(1024, 1366)
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(args.invite)
        seen["accessibility"]["invite"] = axe_violations(driver)
        driver.find_element(By.ID, "name").send_keys("Anna")
        driver.find_element(By.ID, "password").send_keys("front desk password")
        driver.find_element(By.ID, "confirm").send_keys("front desk password")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(EC.url_contains("/app/desk"))
        wait.until(EC.presence_of_element_located((By.ID, "code")))
        seen["focused"] = driver.switch_to.active_element.get_attribute("id")
        driver.save_screenshot(os.path.join(args.shots, "app-scan.png"))
        seen["accessibility"]["desk"] = axe_violations(driver)
        # axe moves nothing, but the journey starts as a person's would: on the scan field.
        driver.find_element(By.ID, "code").click()

        started = time.monotonic()
        # The scanner types into the focused field and ends with Enter.
        driver.switch_to.active_element.send_keys(args.member + Keys.ENTER)
        wait.until(EC.url_contains("/app/members/"))
        seen["balance_before"] = driver.find_element(By.ID, "balance").text
        driver.find_element(By.ID, "amount").send_keys(args.amount)
        driver.find_element(By.CSS_SELECTOR, "input[name=paymentMethod][value=cash]").click()
        driver.find_element(By.CSS_SELECTOR, "form[action$='/purchase'] button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.ID, "points-preview")))
        seen["preview"] = driver.find_element(By.ID, "points-preview").text
        confirm_at = time.monotonic()
        driver.find_element(By.CSS_SELECTOR, "main form[action$='/purchase'] button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.flash")))
        seen["desk_seconds"] = round(time.monotonic() - started, 3)
        seen["confirm_seconds"] = round(time.monotonic() - confirm_at, 3)
        seen["flash"] = driver.find_element(By.CSS_SELECTOR, "p.flash").text
        seen["balance_after"] = driver.find_element(By.ID, "balance").text
        driver.save_screenshot(os.path.join(args.shots, "app-member.png"))
        seen["accessibility"]["member"] = axe_violations(driver)

        # A phone's width: nothing wider than the screen.
        driver.set_window_size(390, 844)
        seen["phone_overflow"] = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        seen["widest"] = driver.execute_script("""
            var worst = null, width = document.documentElement.clientWidth;
            document.querySelectorAll('body *').forEach(function (e) { var r = e.getBoundingClientRect(); if (r.right > width + 1 && (!worst || r.right > worst[1])) { worst = [e.tagName + '.' + e.className + '#' + e.id, r.right]; } });
            return worst;""")
        driver.save_screenshot(os.path.join(args.shots, "app-member-phone.png"))
        seen["title"] = driver.title
        seen["axe_passes"] = driver.axe_passes
    except Exception:
        print(f"at {driver.current_url}: {driver.page_source[:3000]}", file=sys.stderr)
        raise
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(main())
