"""The class report and its similarity page as an instructor opens them: headless Chromium on the files that
`autograder report` wrote for the generated class, every figure decoded, screenshots kept in the test's folder."""
from __future__ import annotations

from pathlib import Path

from .scratch_course import autograder


def test_the_report_opens_with_its_figures_and_links_to_the_similar_pairs(graded_class, page, shot) -> None:
    from playwright.sync_api import expect

    root, made = graded_class
    autograder(root, "report", "a2-attention")
    page.goto((root / "reports/a2-attention/report.html").as_uri())
    expect(page.get_by_role("heading", name="a2-attention: Attention")).to_be_visible()
    images = page.locator("img")
    assert images.count() >= 7, "statuses, totals, scores per part, two parts' mistakes and two polls"
    for i in range(images.count()):  # each figure decoded into a picture with a size: it renders
        images.nth(i).scroll_into_view_if_needed()
        size = images.nth(i).evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert size[0] and size[1] > 100 and size[2] > 50, (i, size)
    expect(page.locator("#scaled-dot-product-attention")).to_contain_text("the scores are not divided by sqrt(d_k)")
    shot(page, "report-top")
    page.locator("#scaled-dot-product-attention").scroll_into_view_if_needed()
    shot(page, "report-mistakes")
    original, copier, _ = made.copies[0]
    similar = page.locator("#similarity")
    similar.scroll_into_view_if_needed()
    shot(page, "report-similarity")
    page.get_by_role("link", name="All pairs, side by side").click()
    expect(page.locator("body")).to_contain_text(copier)
    expect(page.locator("body")).to_contain_text(original)
    shot(page, "similarity-page")
    full = Path(shot.folder) / "report-full.png"
    page.goto((root / "reports/a2-attention/report.html").as_uri())
    page.screenshot(path=str(full), full_page=True)
    print(f"screenshot: {full}")
