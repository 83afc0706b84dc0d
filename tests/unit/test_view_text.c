/* SPDX-License-Identifier: MIT */
/* The escapes every view puts store text through: JSON inside <script>, HTML text, terminal text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void json_is(const char *in, const char *want)
{
	struct dft_buf t;

	dft_buf_init(&t, 1 << 16);
	dft_text_json_str(&t, in);
	assert_false(t.overflow);
	assert_string_equal(t.p, want);
	dft_buf_free(&t);
}

static void html_is(const char *in, const char *want)
{
	struct dft_buf t;

	dft_buf_init(&t, 1 << 16);
	dft_text_html(&t, in);
	assert_false(t.overflow);
	assert_string_equal(t.p ? t.p : "", want);
	dft_buf_free(&t);
}

/* nothing in a name can end the <script> element or the JSON string */
static void test_json_in_script(void **state)
{
	(void)state;
	json_is("plain op", "\"plain op\"");
	json_is("</script><b>", "\"\\u003c/script\\u003e\\u003cb\\u003e\"");
	json_is("a\"b\\c&d", "\"a\\\"b\\\\c\\u0026d\"");
	json_is("tab\tnl\n\x01\x7f", "\"tab\\u0009nl\\u000a\\u0001\\u007f\"");
	json_is("\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\"");                   /* line separators end a JS line */
	json_is("caf\xc3\xa9 \xf0\x9f\x99\x82", "\"caf\xc3\xa9 \xf0\x9f\x99\x82\""); /* valid UTF-8 stays */
	json_is("\xff\xc0\xaf\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""); /* not UTF-8 */
	json_is(NULL, "\"\"");
}

static void test_html(void **state)
{
	(void)state;
	html_is("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;");
	html_is("\"'&", "&quot;&#39;&amp;");
	html_is("a\x01\xff", "a\xef\xbf\xbd\xef\xbf\xbd");
	html_is("caf\xc3\xa9", "caf\xc3\xa9");
}

static void test_clean(void **state)
{
	char buf[8];

	(void)state;
	assert_string_equal(dft_text_clean("a\nb\xff", buf, sizeof(buf)), "a?b?");
	/* cut at a character boundary: the 2-byte character does not fit in the last byte */
	assert_string_equal(dft_text_clean("abcdef\xc3\xa9", buf, sizeof(buf)), "abcdef");
}

/* past its limit the buffer says so instead of growing */
static void test_bounded(void **state)
{
	struct dft_buf t;

	(void)state;
	dft_buf_init(&t, 16);
	dft_buf_puts(&t, "0123456789");
	assert_false(t.overflow);
	dft_buf_puts(&t, "0123456789");
	assert_true(t.overflow);
	dft_buf_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_in_script),
	    cmocka_unit_test(test_html),
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
