DROP FUNCTION devflow_check(boolean, text);
