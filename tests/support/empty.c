/* Keeps the support library non-empty. */
typedef int pa_test_support_empty_unit;
