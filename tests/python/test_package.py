"""The installed `maskconv` package (a wheel in a fresh venv): the binary
is found in the environment, and convert / inspect / validate / merge
return the binary's --json reports or raise MaskconvError carrying them.

Run: python tests/python/test_package.py (from the project folder).
"""

import os
import subprocess
import sys
import sysconfig
import tempfile
import unittest

import maskconv

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")
CVAT = os.path.join(FIXTURES, "cvat", "generated_cvat_export", "cvat_like_export.zip")
COCO = os.path.join(FIXTURES, "coco", "official_style")
BAD_COCO = os.path.join(FIXTURES, "coco", "bad_unknown_category")


class PackageTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def test_the_binary_is_the_one_installed_in_this_environment(self):
        found = maskconv.find_bin()
        self.assertEqual(os.path.dirname(found), sysconfig.get_path("scripts"))
        version = subprocess.run([sys.executable, "-m", "maskconv", "--version"], capture_output=True, text=True)
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertIn("coco-panoptic", version.stdout)

    def test_convert_returns_the_report_and_writes_the_output(self):
        report = maskconv.convert(CVAT, self.out("out.zip"), to="coco", options={"segmentation": "polygon"})
        self.assertEqual(report["status"], "ok")
        self.assertEqual((report["from"], report["to"]), ("cvat", "coco"))
        self.assertEqual(report["written"], report["items"])
        self.assertGreater(report["written"], 0)
        self.assertIn("polygon-iou", [w["code"] for w in report["warnings"]])
        self.assertTrue(os.path.isfile(self.out("out.zip")))

    def test_a_failed_convert_raises_with_the_report_and_publishes_nothing(self):
        with self.assertRaises(maskconv.MaskconvError) as caught:
            maskconv.convert(BAD_COCO, self.out("bad"), to="cvat")
        error = caught.exception
        self.assertEqual(error.exit_code, 1)
        self.assertEqual(error.report["status"], "failed")
        self.assertIn("category_id 7", str(error))
        self.assertFalse(os.path.exists(self.out("bad")))
        with self.assertRaises(maskconv.MaskconvError) as usage:
            maskconv.convert(COCO, self.out("x"), to="no-such-format")
        self.assertEqual(usage.exception.exit_code, 2)

    def test_inspect_and_validate_return_their_reports(self):
        inspection = maskconv.inspect(COCO)
        self.assertEqual(inspection["format"], "coco")
        self.assertEqual(inspection["items"], 3)
        self.assertEqual([c["name"] for c in inspection["classes"]][:2], ["person", "car"])
        self.assertTrue(maskconv.validate(COCO)["valid"])
        invalid = maskconv.validate(BAD_COCO)
        self.assertFalse(invalid["valid"])
        self.assertIn("category_id 7", invalid["problems"][0]["error"])

    def test_shards_merge_into_one_runs_bytes(self):
        whole = maskconv.convert(COCO, self.out("one.zip"), to="cvat")
        parts = []
        for k in range(2):
            part = self.out(f"part{k}.zip")
            report = maskconv.convert(COCO, part, to="cvat", shard=f"{k}/2")
            self.assertEqual(report["shard"]["index"], k)
            parts.append(part)
        merged = maskconv.merge(parts, self.out("merged.zip"))
        self.assertEqual(merged["written"], whole["written"])
        with open(self.out("one.zip"), "rb") as a, open(self.out("merged.zip"), "rb") as b:
            self.assertEqual(a.read(), b.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
