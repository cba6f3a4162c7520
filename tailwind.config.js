/** Tailwind scans the templ sources (and the generated Go, which holds the same class strings). */
const defaultTheme = require('tailwindcss/defaultTheme')

module.exports = {
  content: ['./views/**/*.templ', './static/js/**/*.js'],
  darkMode: 'media',
  theme: {
    extend: {
      fontFamily: {
        sans: ['"Inter Variable"', 'Inter', ...defaultTheme.fontFamily.sans],
      },
      colors: {
        accent: {
          50: '#eef2ff', 100: '#e0e7ff', 200: '#c7d2fe', 300: '#a5b4fc', 400: '#818cf8',
          500: '#6366f1', 600: '#4f46e5', 700: '#4338ca', 800: '#3730a3', 900: '#312e81', 950: '#1e1b4b',
        },
      },
    },
  },
  plugins: [require('@tailwindcss/forms')],
}
