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
    parser.add_argument("--logo", required=True)
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

        # Card design: the business's colours and logo head the app; the card at each stage.
        driver.find_element(By.LINK_TEXT, "Card design").click()
        wait.until(EC.presence_of_element_located((By.ID, "brand-background")))
        seen["accessibility"]["design"] = axe_violations(driver)
        driver.execute_script("document.getElementById('brand-background').value = '#7a1f5c';"
                              "document.getElementById('brand-text').value = '#ffffff';")
        driver.find_element(By.CSS_SELECTOR, "form[action='/app/branding'] button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "link[href^='/app/brand.css']")))
        driver.find_element(By.ID, "brand-logo").send_keys(args.logo)
        driver.find_element(By.CSS_SELECTOR, "form[action='/app/branding/logo'] button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "header.bar img.brand-logo")))
        seen["bar"] = driver.execute_script("return getComputedStyle(document.querySelector('header.bar')).backgroundColor")
        seen["logo_loaded"] = driver.execute_script("const i = document.querySelector('header.bar img.brand-logo'); return i.complete && i.naturalWidth > 0")

        driver.find_element(By.LINK_TEXT, "Program").click()
        wait.until(EC.presence_of_element_located((By.ID, "text-7")))
        driver.find_element(By.ID, "text-7").send_keys("Last call: {points} points go on {date}")
        driver.find_element(By.ID, "tier-name-0").send_keys("Member")
        driver.find_element(By.ID, "tier-min-0").send_keys("0")
        driver.find_element(By.ID, "tier-name-1").send_keys("Gold")
        driver.find_element(By.ID, "tier-min-1").send_keys("1000")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#tier-name-1[value='Gold']")))
        frames = driver.find_elements(By.CSS_SELECTOR, ".stages iframe.preview")
        seen["stages"] = []
        for frame in frames:
            driver.switch_to.frame(frame)
            WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "article.card")))
            seen["stages"].append(driver.find_element(By.CSS_SELECTOR, "article.card").text)
            driver.switch_to.default_content()
        driver.execute_script("document.querySelector('.stages').scrollIntoView()")
        driver.save_screenshot(os.path.join(args.shots, "app-stages.png"))
        seen["accessibility"]["program-stages"] = axe_violations(driver)

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
