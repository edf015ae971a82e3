"""The manager's journey in Chromium: take up an invitation, change the earning rate, send a
message to the members with at least some points, follow it until it is sent, and read the
reports. Screenshots go to --shots; axe-core checks each page. Prints one JSON object."""
import argparse
import json
import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
from webapp import accept_invitation, axe_violations, browser, phone_fit  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--invite", required=True)
    parser.add_argument("--shots", required=True)
    args = parser.parse_args()
    seen = {"accessibility": {}}
    driver = browser(1024, 1366)
    wait = WebDriverWait(driver, 30)
    try:
        accept_invitation(driver, wait, args.invite, "manager password 1")

        driver.find_element(By.LINK_TEXT, "Program").click()
        wait.until(EC.presence_of_element_located((By.ID, "percent-0")))
        seen["accessibility"]["program"] = axe_violations(driver)
        percent = driver.find_element(By.ID, "percent-0")
        percent.clear()
        percent.send_keys("25")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main p.muted"), "Version"))
        seen["percent"] = driver.find_element(By.ID, "percent-0").get_attribute("value")

        driver.find_element(By.LINK_TEXT, "Messages").click()
        wait.until(EC.presence_of_element_located((By.ID, "message")))
        seen["accessibility"]["messages"] = axe_violations(driver)
        Select(driver.find_element(By.ID, "template")).select_by_visible_text("loyalty")
        driver.find_element(By.ID, "message").send_keys("Your points are waiting: 20% off this week")
        driver.find_element(By.ID, "min-balance").send_keys("30")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(EC.url_contains("/app/messages/cmp_"))
        # The page follows the campaign by itself (it reloads while it runs).
        wait.until(EC.text_to_be_present_in_element((By.ID, "progress-heading"), "Sent"))
        seen["done"] = driver.find_element(By.ID, "campaign-done").text
        seen["total"] = driver.find_element(By.ID, "campaign-total").text
        seen["accessibility"]["campaign"] = axe_violations(driver)

        driver.find_element(By.LINK_TEXT, "Reports").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "svg[role=img]")))
        seen["charts"] = len(driver.find_elements(By.CSS_SELECTOR, "svg[role=img]"))
        driver.save_screenshot(os.path.join(args.shots, "app-report.png"))
        seen["accessibility"]["reports"] = axe_violations(driver)
        seen["phone_overflow"], seen["widest"] = phone_fit(driver)
    except Exception:
        print(f"at {driver.current_url}: {driver.page_source[:3000]}", file=sys.stderr)
        raise
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(main())
