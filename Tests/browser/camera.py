"""The front desk's camera in Chromium: its fake capture device plays a video of the wallet
card's QR code; the desk page sends frames to the server, which reads the code (libzbar) and
sends the browser to the member. Prints one JSON object of what it saw."""
import argparse
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--invite", required=True)
    parser.add_argument("--video", required=True)
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1024,1366",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={args.video}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    wait = WebDriverWait(driver, 30)
    seen = {}
    try:
        driver.get(args.invite)
        driver.find_element(By.ID, "password").send_keys("camera desk password")
        driver.find_element(By.ID, "confirm").send_keys("camera desk password")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(EC.url_contains("/app/desk"))
        started = time.monotonic()
        wait.until(EC.element_to_be_clickable((By.ID, "camera-start"))).click()
        wait.until(EC.url_contains("/app/members/"))
        seen["seconds"] = round(time.monotonic() - started, 3)
        seen["name"] = driver.find_element(By.ID, "member-name").text
        seen["balance"] = driver.find_element(By.ID, "balance").text
    except Exception:
        status = driver.find_elements(By.ID, "camera-status")
        print(f"at {driver.current_url}; camera status: {status[0].text if status else None}; {driver.page_source[:2000]}", file=sys.stderr)
        raise
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(main())
