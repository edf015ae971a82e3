"""What the browser tests share: a headless Chromium through Debian's chromedriver, axe-core's
verdict on a page, taking up an invitation, and whether a page fits a phone's width."""
import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC


def browser(width, height, extra_flags=()):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}", *extra_flags]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


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


def accept_invitation(driver, wait, link, password, name=None):
    """Opens an invitation link, chooses the password, and waits for the front desk."""
    driver.get(link)
    if name:
        driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "confirm").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait.until(EC.url_contains("/app/desk"))


def phone_fit(driver):
    """At a phone's width: how far the page is wider than the screen (0 or less: it fits), and
    the element that reaches furthest past it."""
    driver.set_window_size(390, 844)
    overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    widest = driver.execute_script("""
        var worst = null, width = document.documentElement.clientWidth;
        document.querySelectorAll('body *').forEach(function (e) { var r = e.getBoundingClientRect(); if (r.right > width + 1 && (!worst || r.right > worst[1])) { worst = [e.tagName + '.' + e.className + '#' + e.id, r.right]; } });
        return worst;""")
    return overflow, widest
