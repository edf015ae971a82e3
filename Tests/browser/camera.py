"""The front desk's camera in Chromium: its fake capture device plays a video of the wallet
card's QR code; the desk page sends frames to the server, which reads the code (libzbar) and
sends the browser to the member. Prints one JSON object of what it saw."""
import argparse
import json
import os
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
from webapp import accept_invitation, browser  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--invite", required=True)
    parser.add_argument("--video", required=True)
    args = parser.parse_args()
    driver = browser(1024, 1366, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                  f"--use-file-for-fake-video-capture={args.video}"])
    wait = WebDriverWait(driver, 30)
    seen = {}
    try:
        accept_invitation(driver, wait, args.invite, "camera desk password")
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
