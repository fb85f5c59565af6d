"""The views: plans compared side by side, charts, the HTML report for district leaders and
Excel export, with bilingual labels and CJK font lookup."""
