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

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
from webapp import accept_invitation, axe_violations, browser, phone_fit  # noqa: E402


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
        accept_invitation(driver, wait, args.invite, "front desk password", name="Anna")
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
        seen["phone_overflow"], seen["widest"] = phone_fit(driver)
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
