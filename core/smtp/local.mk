# sources, programs and tests of core/smtp
